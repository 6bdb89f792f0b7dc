import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_SEGMENT_SIZE,
  decryptRelease,
  encryptRelease,
  generateAgentKeys,
  generateReleaseKey,
  parseHeader,
  signManifest,
  verifyManifest,
  type CryptoContext,
} from '../../../shared/crypto/index.ts';
import { decryptPayload, encryptReleaseWith } from '../../../shared/crypto/release-stream.ts';
import type { Threads } from '../../../shared/crypto/chunk-runner.ts';
import { releaseDigestOf } from '../../../shared/crypto/release-digest.ts';
import { HEADER_PREFIX_BYTES } from '../../../shared/crypto/release-format.ts';
import { makeTempDir, pattern, rejection, releaseContext } from './helpers.ts';

const signer = generateAgentKeys().signing;
const key = generateReleaseKey();
let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => tmp.cleanup());

/** Encrypts `plain` and returns the ciphertext bytes and the signed manifest. */
const seal = async (plain: Uint8Array, segmentSize: number, k = key, context = releaseContext) => {
  const out = join(tmp.dir, `ct-${Math.random().toString(36).slice(2)}`);
  const result = await encryptRelease({ input: plain, outputPath: out, releaseKey: k, context, segmentSize });
  const ciphertext = readFileSync(out);
  return { ciphertext, manifest: signManifest(result, signer), result };
};

const open = (ciphertext: Uint8Array, manifest: Uint8Array, opts: { k?: Buffer; context?: CryptoContext } = {}) =>
  decryptRelease({
    input: ciphertext,
    outputPath: join(tmp.dir, 'plain.out'),
    releaseKey: opts.k ?? key,
    context: opts.context ?? releaseContext,
    manifest,
    signerPublicKey: signer.publicKey,
    durable: false,
  });

/** Nothing may be left behind by a failed decryption: no output, no temporary file. */
const expectNoPlaintext = (): void => {
  expect(tmp.files().filter((f) => f.startsWith('plain') || f.includes('.partial'))).toEqual([]);
};

describe('release round trip', () => {
  const S = 64;
  it.each([0, 1, S - 1, S, S + 1, 3 * S, 5 * S + 7])('small segments: %i bytes', async (size) => {
    // Prepare
    const plain = pattern(size);
    const { ciphertext, manifest, result } = await seal(plain, S);
    // Act
    const m = await open(ciphertext, manifest);
    // Assess
    expect(readFileSync(join(tmp.dir, 'plain.out')).equals(plain)).toBe(true);
    expect(m.plaintextSize).toBe(size);
    expect(result.ciphertextSize).toBe(ciphertext.byteLength);
    expect(tmp.files().some((f) => f.includes('.partial'))).toBe(false);
  });

  it.each([0, 1, DEFAULT_SEGMENT_SIZE - 1, DEFAULT_SEGMENT_SIZE, DEFAULT_SEGMENT_SIZE + 1])(
    'default 64 KiB segments: %i bytes',
    async (size) => {
      const plain = pattern(size, 7);
      const { ciphertext, manifest } = await seal(plain, DEFAULT_SEGMENT_SIZE);
      await open(ciphertext, manifest);
      expect(readFileSync(join(tmp.dir, 'plain.out')).equals(plain)).toBe(true);
    },
  );

  it('random multi-segment sizes and segment sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 16, max: 300 }), fc.integer({ min: 0, max: 4000 }), async (S, size) => {
        const plain = pattern(size, S);
        const { ciphertext, manifest } = await seal(plain, S);
        await open(ciphertext, manifest);
        return readFileSync(join(tmp.dir, 'plain.out')).equals(plain);
      }),
      { numRuns: 40 },
    );
  });

  it('the digest the pipeline signs is the release digest of §3.5, inline or on 1 or 3 workers, across leaves and chunks', async () => {
    // Segment sizes from 16 bytes (65,536-frame leaves) to 700,000 (one frame per leaf).
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(16, 1000, 65_536, 300_000, 700_000),
        fc.integer({ min: 0, max: 3_500_000 }),
        fc.constantFrom<Threads>('inline', 'workers', 3),
        async (S, size, threads) => {
          const plain = pattern(size, S);
          const out = join(tmp.dir, 'ct');
          const r = await encryptReleaseWith({ input: plain, outputPath: out, releaseKey: key, context: releaseContext, segmentSize: S }, { threads });
          const file = readFileSync(out);
          expect(r.fileDigest.equals(releaseDigestOf(file, file.byteLength - r.plaintextSize - (Math.floor(size / S) + 1) * 16, S))).toBe(true);
          await decryptPayload(out, join(tmp.dir, 'plain.out'), key, releaseContext, r, false, { threads });
          expect(readFileSync(join(tmp.dir, 'plain.out')).equals(plain)).toBe(true);
          rmSync(out);
          rmSync(join(tmp.dir, 'plain.out'));
        },
      ),
      { numRuns: 12 },
    );
  });

  it('reads from a Node stream in uneven chunks and from a file path, over several chunks', async () => {
    const plain = pattern(2_500_000, 3);
    const chunks: Buffer[] = [];
    for (let off = 0; off < plain.byteLength; off += 77_777) chunks.push(plain.subarray(off, off + 77_777));
    const ct = join(tmp.dir, 'from-stream');
    const r = await encryptRelease({ input: Readable.from(chunks), outputPath: ct, releaseKey: key, context: releaseContext });
    await decryptRelease({
      input: ct, // path input
      outputPath: join(tmp.dir, 'plain.out'),
      releaseKey: key,
      context: releaseContext,
      manifest: signManifest(r, signer),
      signerPublicKey: signer.publicKey,
    });
    expect(readFileSync(join(tmp.dir, 'plain.out')).equals(plain)).toBe(true);
  });

  it('encrypts and hashes on worker threads with the same result as inline', async () => {
    const plain = pattern(3_000_000, 5);
    const salt = Buffer.alloc(32, 9);
    const a = await encryptReleaseWith(
      { input: plain, outputPath: join(tmp.dir, 'a'), releaseKey: key, context: releaseContext },
      { salt, threads: 'workers' },
    );
    const b = await encryptReleaseWith(
      { input: plain, outputPath: join(tmp.dir, 'b'), releaseKey: key, context: releaseContext },
      { salt, threads: 'inline' },
    );
    expect(a).toEqual(b);
    const manifest = signManifest(a, signer);
    await decryptPayload(join(tmp.dir, 'a'), join(tmp.dir, 'plain.out'), key, releaseContext, verifyManifest(manifest, signer.publicKey), false, {
      threads: 'workers',
    });
    expect(readFileSync(join(tmp.dir, 'plain.out')).equals(plain)).toBe(true);
  });

  it('with workers and direct I/O over several 1 MiB chunks, from memory and from files: identical bytes; tampering, truncation and trailing data are refused', async () => {
    const plain = pattern(5 * 1024 * 1024 + 123, 11);
    const salt = Buffer.alloc(32, 3);
    writeFileSync(join(tmp.dir, 'in'), plain);
    const r = await encryptReleaseWith(
      { input: join(tmp.dir, 'in'), outputPath: join(tmp.dir, 'w'), releaseKey: key, context: releaseContext },
      { salt, threads: 'workers', directIo: true },
    );
    await encryptReleaseWith(
      { input: plain, outputPath: join(tmp.dir, 'i'), releaseKey: key, context: releaseContext },
      { salt, threads: 'inline', directIo: false },
    );
    const ciphertext = readFileSync(join(tmp.dir, 'w'));
    expect(ciphertext.equals(readFileSync(join(tmp.dir, 'i')))).toBe(true);
    const manifest = verifyManifest(signManifest(r, signer), signer.publicKey);
    const decrypt = (input: Buffer, directIo = true) =>
      decryptPayload(input, join(tmp.dir, 'plain.out'), key, releaseContext, manifest, false, { threads: 'workers', directIo });
    for (const directIo of [true, false]) {
      await decrypt(ciphertext, directIo);
      expect(readFileSync(join(tmp.dir, 'plain.out')).equals(plain)).toBe(true);
      rmSync(join(tmp.dir, 'plain.out'));
    }
    const bad = Buffer.from(ciphertext);
    const at = ciphertext.byteLength - 3 * 65_552; // inside the third chunk
    bad[at] = bad[at]! ^ 1;
    expect((await rejection(() => decrypt(bad))).reason).toBe('tampered-segment');
    expectNoPlaintext();
    expect((await rejection(() => decrypt(Buffer.concat([ciphertext, Buffer.from([0])])))).reason).toBe('trailing-data');
    expectNoPlaintext();
    // The same from files, which the lanes read themselves.
    const file = (name: string, bytes: Buffer): string => {
      writeFileSync(join(tmp.dir, name), bytes);
      return join(tmp.dir, name);
    };
    const fromFile = (path: string) =>
      decryptPayload(path, join(tmp.dir, 'plain.out'), key, releaseContext, manifest, false, { threads: 'workers' });
    expect((await rejection(() => fromFile(file('bad', bad)))).reason).toBe('tampered-segment');
    expect((await rejection(() => fromFile(file('long', Buffer.concat([ciphertext, Buffer.from([0])]))))).reason).toBe('trailing-data');
    expect((await rejection(() => fromFile(file('short', ciphertext.subarray(0, ciphertext.byteLength - 20_000)))))).toMatchObject({ reason: 'truncated' });
    expectNoPlaintext();
  });

  it('refuses to encrypt under a context that is not a release context', async () => {
    await expect(
      encryptRelease({ input: Buffer.alloc(1), outputPath: join(tmp.dir, 'x'), releaseKey: key, context: { ...releaseContext, purpose: 'key-list' } }),
    ).rejects.toThrow(/purpose/);
    expect(tmp.files()).toEqual([]);
  });
});

describe('release tampering', () => {
  // Three segments (16 + 16 + 8 bytes) keep the exhaustive sweeps small.
  const S = 16;
  const plain = pattern(40, 11);

  it('rejects every single-bit flip anywhere in the file, leaving no plaintext', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    const expected = new Set(['malformed', 'truncated', 'unsupported-version', 'wrong-context', 'tampered-header', 'wrong-key', 'tampered-segment']);
    for (let bit = 0; bit < ciphertext.byteLength * 8; bit++) {
      const bad = Buffer.from(ciphertext);
      bad[bit >> 3]! ^= 1 << (bit & 7);
      const e = await rejection(() => open(bad, manifest));
      expect(expected.has(e.reason), `bit ${bit}: ${e.reason}`).toBe(true);
      // Without the manifest the format alone must still refuse it.
      await rejection(() => decryptPayload(bad, join(tmp.dir, 'plain.raw'), key, releaseContext, undefined, false, {}));
    }
    expectNoPlaintext();
  });

  it('names the tampered segment', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    const header = parseHeaderLength(ciphertext);
    const bad = Buffer.from(ciphertext);
    bad[header + (S + 16) + 3]! ^= 0x80; // inside segment 1
    const e = await rejection(() => open(bad, manifest));
    expect(e).toMatchObject({ reason: 'tampered-segment', segment: 1 });
    expectNoPlaintext();
  });

  it('rejects truncation at every length, at and between segment boundaries', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    const header = parseHeaderLength(ciphertext);
    for (let len = 0; len < ciphertext.byteLength; len++) {
      const e = await rejection(() => open(ciphertext.subarray(0, len), manifest));
      expect(e.reason, `length ${len}`).toBe('truncated');
      const raw = await rejection(() =>
        decryptPayload(ciphertext.subarray(0, len), join(tmp.dir, 'plain.raw'), key, releaseContext, undefined, false, {}),
      );
      // At a segment boundary the format alone knows it is truncated (a full segment is never last).
      if (len >= header && (len - header) % (S + 16) === 0) expect(raw.reason, `raw length ${len}`).toBe('truncated');
    }
    expectNoPlaintext();
  });

  it('rejects trailing data', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    for (const extra of [Buffer.from([0]), pattern(16), ciphertext.subarray(-24)]) {
      const e = await rejection(() => open(Buffer.concat([ciphertext, extra]), manifest));
      expect(e.reason).toBe('trailing-data');
    }
    expectNoPlaintext();
  });

  it('rejects reordered and duplicated segments', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    const h = parseHeaderLength(ciphertext);
    const F = S + 16;
    const head = ciphertext.subarray(0, h);
    const seg = (i: number) => ciphertext.subarray(h + i * F, Math.min(h + (i + 1) * F, ciphertext.byteLength));
    const swapped = Buffer.concat([head, seg(1), seg(0), seg(2)]);
    expect(await rejection(() => open(swapped, manifest))).toMatchObject({ reason: 'tampered-segment', segment: 0 });
    const duplicated = Buffer.concat([head, seg(0), seg(0), seg(1), seg(2)]);
    expect(await rejection(() => open(duplicated, manifest))).toMatchObject({ reason: 'tampered-segment', segment: 1 });
    const dropped = Buffer.concat([head, seg(0), seg(2)]);
    expect((await rejection(() => open(dropped, manifest))).reason).toMatch(/tampered-segment|truncated/);
    // The format alone: a moved final segment fails because of the final flag in the nonce.
    const raw = await rejection(() => decryptPayload(dropped, join(tmp.dir, 'plain.raw'), key, releaseContext, undefined, false, {}));
    expect(raw).toMatchObject({ reason: 'tampered-segment', segment: 1 });
    expectNoPlaintext();
  });

  it('rejects a changed header field', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    const bad = Buffer.from(ciphertext);
    bad.writeUInt32BE(32, 9); // segment size 16 -> 32
    expect((await rejection(() => open(bad, manifest))).reason).toBe('tampered-header');
    const raw = await rejection(() => decryptPayload(bad, join(tmp.dir, 'plain.raw'), key, releaseContext, undefined, false, {}));
    expect(raw).toMatchObject({ reason: 'tampered-segment', segment: 0 });
    expectNoPlaintext();
  });

  it('rejects a wrong context and a wrong key before any segment', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    const other = { ...releaseContext, application: 'app-2' };
    expect((await rejection(() => open(ciphertext, manifest, { context: other }))).reason).toBe('wrong-context');
    const raw = await rejection(() => decryptPayload(ciphertext, join(tmp.dir, 'plain.raw'), key, other, undefined, false, {}));
    expect(raw.reason).toBe('wrong-context');
    expect((await rejection(() => open(ciphertext, manifest, { k: generateReleaseKey() }))).reason).toBe('wrong-key');
    expectNoPlaintext();
  });

  it('rejects a valid file made under a second key (key commitment)', async () => {
    // Prepare: a well-formed release under key2, signed by the same pusher.
    const key2 = generateReleaseKey();
    const second = await seal(plain, S, key2);
    // Act / Assess: opening it with key1 fails at the commitment, before any segment.
    expect((await rejection(() => open(second.ciphertext, second.manifest))).reason).toBe('wrong-key');
    // Even with key1's salt and commitment pasted in, the segments were sealed under key2's
    // payload key, so segment 0 fails.
    const first = await seal(plain, S);
    const forged = Buffer.from(second.ciphertext);
    const h = parseHeaderLength(forged);
    first.ciphertext.copy(forged, 13, 13, 45);
    first.ciphertext.copy(forged, h - 32, h - 32, h);
    const raw = await rejection(() => decryptPayload(forged, join(tmp.dir, 'plain.raw'), key, releaseContext, undefined, false, {}));
    expect(raw).toMatchObject({ reason: 'tampered-segment', segment: 0 });
    expectNoPlaintext();
  });

  it('rejects a manifest signed by someone else, or for another file', async () => {
    const { ciphertext, result } = await seal(plain, S);
    const mallory = generateAgentKeys().signing;
    expect((await rejection(() => open(ciphertext, signManifest(result, mallory)))).reason).toBe('bad-signature');
    const lying = signManifest({ ...result, fileDigest: Buffer.alloc(32) }, signer);
    expect((await rejection(() => open(ciphertext, lying))).reason).toBe('digest-mismatch');
    expectNoPlaintext();
  });

  it('keeps an existing file at the output path untouched on failure', async () => {
    const { ciphertext, manifest } = await seal(plain, S);
    writeFileSync(join(tmp.dir, 'plain.out'), 'previous release');
    await rejection(() => open(ciphertext.subarray(0, ciphertext.byteLength - 1), manifest));
    expect(readFileSync(join(tmp.dir, 'plain.out'), 'utf8')).toBe('previous release');
  });
});

const parseHeaderLength = (file: Buffer): number => {
  const ctxLen = file.readUInt16BE(HEADER_PREFIX_BYTES - 2);
  const len = HEADER_PREFIX_BYTES + ctxLen + 32;
  parseHeader(file.subarray(0, len));
  return len;
};

describe('decrypting into a stream (a target\'s streamed install)', () => {
  /** Decrypts into a stream whose every byte is kept; answers the outcome, the bytes, and how the stream ended. */
  const openToStream = async (ciphertext: Uint8Array, manifest: Uint8Array, k: Buffer = key) => {
    const got: Buffer[] = [];
    const stream = new Writable({
      highWaterMark: 64 * 1024,
      write: (chunk: Buffer, _encoding, done) => setImmediate(() => (got.push(chunk), done())),
    });
    const ended = new Promise<'finished' | 'errored'>((resolve) => {
      stream.once('finish', () => resolve('finished'));
      stream.once('error', () => resolve('errored'));
    });
    ended.catch(() => {});
    const outcome = await decryptRelease({ input: ciphertext, outputPath: { stream }, releaseKey: k, context: releaseContext, manifest, signerPublicKey: signer.publicKey }).then(
      () => 'ok' as const,
      (error: unknown) => error as Error,
    );
    return { outcome, bytes: Buffer.concat(got), ended: outcome === 'ok' ? await ended : stream.destroyed ? 'errored' : 'open' };
  };

  it('gives exactly the plaintext, over several chunks, inline and on workers, and ends the stream', async () => {
    for (const size of [0, 1, 4095, 4097, 3 * 2 ** 20 + 123]) {
      const plain = pattern(size);
      const { ciphertext, manifest } = await seal(plain, DEFAULT_SEGMENT_SIZE);
      const { outcome, bytes, ended } = await openToStream(ciphertext, manifest);
      expect(outcome).toBe('ok');
      expect(bytes.equals(plain)).toBe(true);
      expect(ended).toBe('finished');
    }
  });

  it('a tamper in the last segment, a truncation or a wrong key: the stream is destroyed, never ended, and holds none of the last chunk', async () => {
    const plain = pattern(3 * 2 ** 20 + 123);
    const { ciphertext, manifest } = await seal(plain, DEFAULT_SEGMENT_SIZE);
    const lastByte = Buffer.from(ciphertext);
    lastByte[lastByte.byteLength - 20]! ^= 1;
    for (const [what, bytes, k] of [
      ['last segment', lastByte, key],
      ['truncated', ciphertext.subarray(0, ciphertext.byteLength - 100), key],
      ['wrong key', ciphertext, generateReleaseKey()],
    ] as const) {
      const result = await openToStream(bytes, manifest, k);
      expect(result.outcome, what).toBeInstanceOf(Error);
      expect(result.ended, what).toBe('errored');
      // Only whole verified chunks before the failing one went out, and they are the plaintext's.
      expect(result.bytes.byteLength, what).toBeLessThan(3 * 2 ** 20);
      expect(result.bytes.equals(plain.subarray(0, result.bytes.byteLength)), what).toBe(true);
    }
  });
});
