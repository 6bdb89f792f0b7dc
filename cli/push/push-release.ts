import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { constants as zlibConstants, createBrotliCompress } from 'node:zlib';
import { create as createTar } from 'tar';
import { generateReleaseKey } from '#shared/crypto/index.ts';
import { signManifest, type ArchiveCodec, type UnsignedManifest } from '#shared/crypto/manifest.ts';
import { encryptRelease } from '#shared/crypto/release-stream.ts';
import { releaseVersion } from '#shared/protocol/releases.ts';
import { checkInput } from '../api-client.ts';
import { encryptedSizeFor, plainManifest, releaseContext, timestampVersion, type PushOptions } from '../commands/push.ts';
import type { Context } from '../context.ts';
import { ApiProblem, ApiUnreachable, Interrupted, RefusedError, UsageError } from '../errors.ts';
import { releaseSigner, trustedOwnerKey } from '../keys.ts';
import type { Output } from '../output.ts';
import { find, kinds } from '../resolve.ts';
import { trustedStatements } from '../signed-decisions.ts';
import { readStatementPins } from '../statement-pins.ts';
import { formatBytes, Progress } from './progress.ts';
import { keyServersForSealing, sealRelease, shuffle } from './seal.ts';
import { uploadRelease } from './upload.ts';

/** Tries of the completion, which S3 may need long for on a large upload (each API call stops at 30 s). */
const COMPLETE_ATTEMPTS = 5;

/** How push packs a directory; the signed manifest says so (docs/release-format.md §7). */
const PUSH_CODEC: ArchiveCodec = 'tar+brotli';

/**
 * tar of `source` into brotli at quality 1 (docs/release-format.md §7 says why brotli): tar
 * reads files on this thread while Node's zlib compresses on its thread pool.
 */
const packDirectory = (source: string, archive: string, filter: (entry: string) => boolean) =>
  pipeline(
    // Files are read 1 MiB at a time (tar's default is up to 16 MiB per read): memory stays flat whatever the files.
    createTar({ cwd: source, portable: true, filter, maxReadSize: 1024 * 1024 }, ['.']),
    // 1 MiB out per call: zlib's default 16 KiB makes a thread-pool round trip per 16 KiB, which made it the stream's bottleneck (bench/transfer.ts).
    createBrotliCompress({ chunkSize: 1024 * 1024, params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 1 } }),
    createWriteStream(archive),
  );

const sha256File = async (file: string): Promise<Buffer> => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest();
};

/** `latchkey push APP DIR`: packs, encrypts (secure applications), uploads, completes and seals one release. */
export const pushRelease = async (ctx: Context, out: Output, appRef: string, dir: string, options: PushOptions) => {
  // 1. Check the input and the directory; find the application (is it secure?) and who is pushing.
  // 2. A secure push needs a trusted, online key server before anything is uploaded.
  // 3. Pack DIR; announce the release with the exact size of what will be uploaded.
  // 4. Secure: encrypt with a fresh release key under the release context. Plain: digest the archive.
  // 5. Upload through the presigned URL(s) with progress; complete with digest, signed manifest, parts.
  // 6. Secure: wrap the release key to a random trusted key server until one seals it; zero the key.
  const version = checkInput(releaseVersion, options.version ?? timestampVersion());
  const source = path.resolve(dir);
  const info = await stat(source).catch(() => undefined);
  if (!info?.isDirectory()) throw new UsageError(`${dir} is not a directory`, { field: 'dir' });
  const client = await ctx.client();
  const app = await find(client, kinds.app, appRef);
  const me = await client.call('GET /me');
  // The owner's statement, not the API, says whether the application is secure: once it is, never plain again.
  const seen = (await readStatementPins(ctx.configPath, me.accountId))[`application:${app.appId}`];
  const statement = (await trustedStatements(ctx, client, me, out, 'application')).get(app.appId);
  // A statement this machine has seen and the API no longer shows is hidden, not gone: it may say secure.
  if (!statement && seen !== undefined) {
    throw new RefusedError(`The API shows no owner statement for ${app.name}, but this machine has seen version ${seen} of it; nothing was pushed`, {
      hint: 'The backend is not telling the truth about this application: tell the account owner.',
    });
  }
  if (statement?.secure && !app.secure) {
    throw new RefusedError(`${app.name} is secure by the owner's statement (version ${statement.version}), but the API says plain; nothing was pushed`, {
      hint: 'The backend is not telling the truth about this application: tell the account owner.',
    });
  }
  const signer = await releaseSigner(ctx, client, me, out);
  const ownerKey = app.secure ? await trustedOwnerKey(ctx, me, out) : undefined;
  const sleep = ctx.io.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  // Key servers the owner confirmed, by statements no older than this machine has seen.
  const pins = await readStatementPins(ctx.configPath, me.accountId);
  const forSealing = (waitMs: number) => keyServersForSealing({ client, ownerPublicKey: ownerKey!, accountId: me.accountId, waitMs, sleep, pins });
  if (ownerKey && !(await forSealing(options.sealTimeout * 1000)).eligible.length) {
    throw new RefusedError(`${app.name} is secure, and no trusted key server is online to take its release key; nothing was uploaded`, {
      hint: 'Check `latchkey agents list`.',
    });
  }

  const abort = new AbortController();
  const stopInterrupt = ctx.io.onInterrupt?.(() => abort.abort());
  const checkAbort = () => {
    if (abort.signal.aborted) throw new Interrupted('Push stopped; nothing was completed, and the temporary files are removed.');
  };
  const work = await mkdtemp(path.join(tmpdir(), 'latchkey-push-'));
  let releaseKey: Buffer | undefined;
  try {
    out.note(`Packing ${source}…`);
    const archive = path.join(work, 'release.tar.br');
    // The work directory could sit inside DIR (pushing /tmp); it is never packed.
    await packDirectory(source, archive, (entry) => !path.resolve(source, entry).startsWith(work));
    checkAbort();
    const plaintextSize = (await stat(archive)).size;
    const ids = { accountId: me.accountId, appId: app.appId };
    const size = app.secure ? encryptedSizeFor(ids, plaintextSize) : plaintextSize;
    const created = await client.call('POST /apps/{id}/releases', { params: { id: app.appId }, body: { version, size } });
    if (created.encrypted !== app.secure) {
      throw new RefusedError(`${app.name} changed (secure: ${created.encrypted}) while pushing; push again`);
    }
    const context = releaseContext({ ...ids, releaseId: created.releaseId });
    let upload = archive;
    let unsigned: UnsignedManifest;
    if (app.secure) {
      if (encryptedSizeFor(ids, plaintextSize, created.releaseId) !== size) throw new ApiUnreachable(`Release id ${created.releaseId} is not in the expected form`);
      out.note(`Encrypting ${formatBytes(plaintextSize)}…`);
      releaseKey = generateReleaseKey();
      upload = path.join(work, 'release.lkr');
      unsigned = { ...(await encryptRelease({ input: archive, outputPath: upload, releaseKey, context })), codec: PUSH_CODEC };
      await rm(archive);
      if (unsigned.ciphertextSize !== size) throw new Error(`encrypted size ${unsigned.ciphertextSize} is not the ${size} announced`);
    } else {
      unsigned = plainManifest(context, size, await sha256File(archive), PUSH_CODEC);
    }
    checkAbort();

    const progress = new Progress({ total: size, write: ctx.io.stderr, isTTY: Boolean(ctx.io.stderrIsTTY) });
    let parts;
    try {
      parts = await uploadRelease({
        fetch: ctx.io.fetch,
        plan: created.upload,
        file: upload,
        size,
        progress,
        signal: abort.signal,
        renew: (partNumbers) =>
          client.call('POST /apps/{id}/releases/{releaseId}/upload', {
            params: { id: app.appId, releaseId: created.releaseId },
            body: created.upload.type === 'single' ? {} : { parts: partNumbers },
          }),
      });
    } catch (error) {
      progress.abandon();
      checkAbort();
      throw error;
    }
    progress.finish();
    const manifest = signManifest(unsigned, signer);
    // Completing is idempotent: a completion that ran out of time (503) is simply asked again.
    const complete = () =>
      client.call('POST /apps/{id}/releases/{releaseId}/complete', {
        params: { id: app.appId, releaseId: created.releaseId },
        body: { digest: unsigned.fileDigest.toString('hex'), manifest: manifest.toString('base64url'), ...(parts ? { parts } : {}) },
      });
    const sleep = ctx.io.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    let release: Awaited<ReturnType<typeof complete>> | undefined;
    for (let attempt = 1; !release; attempt++) {
      try {
        release = await complete();
      } catch (error) {
        const unavailable = error instanceof ApiProblem && [502, 503, 504].includes(error.problem.status);
        if (!unavailable || attempt >= COMPLETE_ATTEMPTS) throw error;
        await sleep(2000 * attempt);
      }
    }
    let sealedBy: string | undefined;
    if (app.secure && releaseKey) {
      checkAbort();
      const { eligible, skipped } = await forSealing(options.sealTimeout * 1000);
      if (skipped.length && ctx.io.env.LATCHKEY_DEBUG) out.note(`Key servers not used: ${skipped.join('; ')}`);
      ({ release, sealedBy } = await sealRelease({
        client,
        out,
        ids: { ...ids, releaseId: created.releaseId },
        releaseKey,
        servers: shuffle(eligible),
        timeoutMs: options.sealTimeout * 1000,
        sleep,
      }));
    }
    out.result(release, () =>
      [
        `Pushed ${app.name} ${release.version} as ${release.releaseId} (${formatBytes(release.size)}, ${release.encrypted ? 'encrypted' : 'plain'}, ${release.state}).`,
        ...(sealedBy ? [`Its key is sealed under master key v${release.masterVersion ?? '?'} by key server ${sealedBy}.`] : []),
        `Deploy it with: latchkey deploy ${app.name} ${release.version} ENVIRONMENT`,
      ].join('\n'),
    );
  } finally {
    releaseKey?.fill(0);
    stopInterrupt?.();
    await rm(work, { recursive: true, force: true });
  }
};
