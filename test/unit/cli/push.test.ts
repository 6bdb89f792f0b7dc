import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { brotliDecompressSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { decryptRelease, DEFAULT_SEGMENT_SIZE, hpkeUnwrap, RELEASE_MAGIC, verifyManifest } from '#shared/crypto/index.ts';
import { releaseDigestOf } from '#shared/crypto/release-digest.ts';
import { HEADER_PREFIX_BYTES, parseHeaderPrefix } from '#shared/crypto/release-format.ts';
import { releaseKeyToKeyServerContext } from '#shared/protocol/key-contexts.ts';
import { signStatement } from '#shared/protocol/statements.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import { releaseContext } from '#cli/commands/push.ts';
import { ACK_TIMEOUT_MS, POLL_MS } from '#cli/push/seal.ts';
import { pinStatements } from '#cli/statement-pins.ts';
import { fakeApi, hex, iso, runCli } from './fake-api.ts';
import { makeAgent, writeOwnerKey } from './key-fixtures.ts';

const ids = { account: `acc_${hex(1)}`, owner: `usr_${hex(1)}`, token: `tok_${hex(7)}`, app: `app_${hex(6)}`, release: `rel_${hex(8)}` };
const me = { accountId: ids.account, accountName: 'Acme', user: { userId: ids.owner, name: 'Ada', email: 'ada@example.com', role: 'owner', createdAt: iso }, tokenId: ids.token };
const S3 = 'https://s3.example.test';

// Push writes its work files under os.tmpdir(); a private one per test shows they are all removed.
let scratch: string;
const savedTmp = process.env.TMPDIR;
const baseTmp = tmpdir();
beforeEach(async () => {
  scratch = await mkdtemp(path.join(baseTmp, 'latchkey-push-test-'));
  process.env.TMPDIR = scratch;
});
afterEach(async () => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await rm(scratch, { recursive: true, force: true });
});

type SetUp = {
  secure: boolean;
  partSize?: number;
  agents?: (owner: { privateKey: Buffer; publicKey: Buffer }) => ReturnType<typeof makeAgent>[];
  /** Whether the n-th key server asked (0-based) takes the request; by default every one does. */
  takes?: (n: number) => boolean;
  /** Whether the n-th key server asked seals the release; by default the first never does, the others at once. */
  answers?: (n: number) => boolean;
  /** GET /master-key, called n times so far; by default the highest version any agent holds. */
  masterKey?: (calls: number) => { version: number | null; retiredThrough: number };
  /** When the URLs of POST …/releases expire. Default: in 15 minutes, as the API says. */
  urlsExpireAt?: string;
  /** Part numbers whose first PUT the storage service refuses with 403 (an expired URL). */
  refuseOnce?: number[];
};

const setUp = async (options: SetUp) => {
  const root = await mkdtemp(path.join(baseTmp, 'latchkey-push-src-'));
  onTestFinished(() => rm(root, { recursive: true, force: true }));
  const configDir = path.join(root, 'config');
  await mkdir(configDir, { mode: 0o700 });
  const owner = await writeOwnerKey(configDir, ids.account);
  const source = path.join(root, 'dist');
  await mkdir(source);
  await writeFile(path.join(source, 'index.js'), 'console.log("PLAINTEXT-MARKER")\n');
  await writeFile(path.join(source, 'blob.bin'), randomBytes(300_000));
  const agents = options.agents?.(owner) ?? [];
  const uploads = new Map<string, Buffer>();
  const refused = new Set(options.refuseOnce ?? []);
  const sealedBy: string[] = [];
  const app = { appId: ids.app, name: 'web-api', secure: options.secure, createdAt: iso, updatedAt: iso };
  const release = { releaseId: ids.release, appId: ids.app, version: 'v1', encrypted: options.secure, createdAt: iso };
  let state: 'uploading' | 'sealing' | 'ready' = 'uploading';
  let size = 0;
  const sealing = () => {
    const n = sealedBy.length - 1;
    return state === 'sealing' && n >= 0 ? { sealing: { agentId: sealedBy[n]!, acknowledged: options.takes?.(n) ?? true } } : {};
  };
  const view = () => ({ ...release, state, size, ...(state === 'ready' && options.secure ? { masterVersion: 1 } : {}), ...sealing() });
  let masterKeyCalls = 0;
  const api = fakeApi({
    'GET /apps': () => ({ body: { items: [app] } }),
    'GET /me': () => ({ body: { ...me, ownerKey: owner.registered, signingKey: { ...owner.registered, vouched: true } } }),
    'GET /agents': () => ({ body: { items: agents.map((a) => a.view) } }),
    'GET /master-key': () => {
      const highest = Math.max(0, ...agents.flatMap((a) => a.view.masterVersions));
      const key = options.masterKey?.(masterKeyCalls++) ?? { version: highest || null, retiredThrough: 0 };
      return { body: { ...key, keyServers: [], onlineHolders: 0 } };
    },
    [`POST /apps/${ids.app}/releases`]: ({ body }) => {
      size = (body as { size: number }).size;
      const upload = options.partSize
        ? {
            type: 'multipart',
            partSize: options.partSize,
            parts: Array.from({ length: Math.ceil(size / options.partSize) }, (_, i) => ({ partNumber: i + 1, url: `${S3}/bucket/obj?partNumber=${i + 1}` })),
            expiresAt: options.urlsExpireAt ?? inFifteenMinutes(),
          }
        : { type: 'single', url: `${S3}/bucket/obj?X-Amz-Signature=x`, method: 'PUT', expiresAt: options.urlsExpireAt ?? inFifteenMinutes() };
      return { status: 201, body: { ...view(), upload } };
    },
    [`POST /apps/${ids.app}/releases/${ids.release}/upload`]: ({ body }) => {
      const asked = (body as { parts?: number[] }).parts ?? [1];
      return {
        body: options.partSize
          ? { type: 'multipart', partSize: options.partSize, parts: asked.map((n) => ({ partNumber: n, url: `${S3}/bucket/obj?partNumber=${n}&renewed=1` })), expiresAt: inFifteenMinutes() }
          : { type: 'single', url: `${S3}/bucket/obj?X-Amz-Signature=y&renewed=1`, method: 'PUT', expiresAt: inFifteenMinutes() },
      };
    },
    [`POST /apps/${ids.app}/releases/${ids.release}/complete`]: () => {
      state = options.secure ? 'sealing' : 'ready';
      return { body: view() };
    },
    [`POST /apps/${ids.app}/releases/${ids.release}/seal`]: ({ body }) => {
      sealedBy.push((body as { agentId: string }).agentId);
      return { status: 202, body: view() };
    },
    [`GET /apps/${ids.app}/releases/${ids.release}`]: () => {
      const n = sealedBy.length - 1;
      if (n >= 0 && (options.takes?.(n) ?? true) && (options.answers?.(n) ?? n >= 1)) state = 'ready';
      return { body: view() };
    },
  });
  // Presigned URLs: the bytes are read and kept, with an ETag per part as S3 gives.
  const fetch = (async (input: string | URL, init: RequestInit = {}) => {
    const url = new URL(String(input));
    if (url.origin !== S3) return api.fetch(input, init);
    api.requests.push({ method: init.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), headers: init.headers as Record<string, string>, body: undefined });
    const bytes = Buffer.from(await new Response(init.body).arrayBuffer());
    const partNumber = Number(url.searchParams.get('partNumber') ?? 1);
    if (refused.has(partNumber) && !url.searchParams.has('renewed')) {
      refused.delete(partNumber);
      return new Response('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>', { status: 403 });
    }
    expect(Number((init.headers as Record<string, string>)['content-length'])).toBe(bytes.length);
    uploads.set(url.searchParams.get('partNumber') ?? '1', bytes);
    return new Response(null, { status: 200, headers: { etag: `"etag-${url.searchParams.get('partNumber') ?? 1}"` } });
  }) as typeof globalThis.fetch;
  const uploaded = () => Buffer.concat([...uploads.entries()].sort(([a], [b]) => Number(a) - Number(b)).map(([, b]) => b));
  const push = (args: string[] = []) =>
    runCli(['push', 'web-api', source, '--version', 'v1', ...args], { ...api, fetch }, { env: { LATCHKEY_CONFIG: path.join(configDir, 'config.json') }, io: { sleep: async () => {} } });
  return { api, owner, agents, uploaded, sealedBy, push, root };
};

const inFifteenMinutes = () => new Date(Date.now() + 15 * 60_000).toISOString();

const completeBody = (api: ReturnType<typeof fakeApi>) => api.requests.find((r) => r.path.endsWith('/complete'))!.body as { digest: string; manifest: string; parts?: unknown[] };

describe('latchkey push: upload URLs expire, uploads do not', () => {
  it('URLs about to expire are renewed (the parts still to send) before they are used', async () => {
    const t = await setUp({ secure: false, partSize: 100_000, urlsExpireAt: new Date(Date.now() + 30_000).toISOString() });

    const result = await t.push(['--json']);

    expect(result.code, result.stderr).toBe(0);
    const renewals = t.api.requests.filter((r) => r.path.endsWith('/upload'));
    expect(renewals).toHaveLength(1);
    const parts = t.api.requests.filter((r) => r.method === 'PUT');
    expect((renewals[0]!.body as { parts: number[] }).parts).toEqual(parts.map((_, i) => i + 1));
    expect(parts.every((r) => r.query.renewed === '1')).toBe(true);
    expect(t.uploaded().length).toBe((t.api.requests.find((r) => r.path.endsWith('/releases'))!.body as { size: number }).size);
  });

  it('a URL the storage service refuses (403, expired) is renewed and the part sent again', async () => {
    const t = await setUp({ secure: false, partSize: 100_000, refuseOnce: [2] });

    const result = await t.push(['--json']);

    expect(result.code, result.stderr).toBe(0);
    const renewals = t.api.requests.filter((r) => r.path.endsWith('/upload'));
    expect(renewals).toHaveLength(1);
    expect((renewals[0]!.body as { parts: number[] }).parts).toContain(2);
    expect(t.api.requests.filter((r) => r.method === 'PUT' && r.query.partNumber === '2').map((r) => r.query.renewed ?? 'first')).toEqual(['first', '1']);
    const { parts } = completeBody(t.api);
    expect(parts).toHaveLength(t.api.requests.filter((r) => r.method === 'PUT').length - 1);
  });

  it('a single PUT refused once (403) is renewed and sent again', async () => {
    const t = await setUp({ secure: false, refuseOnce: [1] });

    const result = await t.push(['--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(t.api.calls().filter((c) => c.endsWith('/upload'))).toHaveLength(1);
    expect(t.api.requests.filter((r) => r.method === 'PUT')).toHaveLength(2);
  });
});

describe('latchkey push', () => {
  it('a plain application: packs, uploads in one PUT, completes with the digest and a signed manifest', async () => {
    // Prepare
    const t = await setUp({ secure: false });

    // Act
    const result = await t.push(['--json']);

    // Assess
    expect(result.stderr).not.toContain('Error');
    expect(result.code).toBe(0);
    expect(t.api.calls()).toEqual(['GET /apps', 'GET /me', 'GET /statements', `POST /apps/${ids.app}/releases`, 'PUT /bucket/obj', `POST /apps/${ids.app}/releases/${ids.release}/complete`]);
    const object = t.uploaded();
    expect(brotliDecompressSync(object).toString('latin1')).toContain('PLAINTEXT-MARKER');
    expect((t.api.requests.find((r) => r.path.endsWith('/releases'))!.body as { size: number }).size).toBe(object.length);
    const { digest, manifest, parts } = completeBody(t.api);
    expect(digest).toBe(createHash('sha256').update(object).digest('hex'));
    expect(parts).toBeUndefined();
    const verified = verifyManifest(fromB64(manifest), t.owner.publicKey, releaseContext({ accountId: ids.account, appId: ids.app, releaseId: ids.release }));
    expect(verified.fileDigest.toString('hex')).toBe(digest);
    expect(JSON.parse(result.stdout)).toMatchObject({ releaseId: ids.release, state: 'ready' });
    expect(result.stderr).toMatch(/Uploaded .* MB\/s/);
    expect((await readdir(scratch)).filter((name) => name.startsWith('latchkey-push-'))).toEqual([]);
  });

  it('a secure application: encrypts, uploads in parts, and when the first key server times out the next one seals', async () => {
    // Prepare: two trusted key servers online, one offline, one forged, one without the current master key.
    const t = await setUp({
      secure: true,
      partSize: 100_000,
      agents: (owner) => [
        makeAgent(owner, ids.account, { name: 'ks-1', masterVersions: [1, 2] }),
        makeAgent(owner, ids.account, { name: 'ks-2', masterVersions: [2] }),
        makeAgent(owner, ids.account, { name: 'ks-off', online: false, masterVersions: [2] }),
        makeAgent(owner, ids.account, { name: 'ks-old', masterVersions: [1] }),
        makeAgent({ privateKey: randomBytes(32), publicKey: Buffer.alloc(0) }, ids.account, { name: 'ks-forged', masterVersions: [2] }),
      ],
    });

    // Act
    const result = await t.push(['--seal-timeout', '1']);

    // Assess
    expect(result.stderr).not.toContain('Error');
    expect(result.code).toBe(0);
    const object = t.uploaded();
    expect(object.subarray(0, RELEASE_MAGIC.length).equals(RELEASE_MAGIC)).toBe(true);
    expect(object.includes('PLAINTEXT-MARKER')).toBe(false);
    expect((t.api.requests.find((r) => r.path.endsWith('/releases'))!.body as { size: number }).size).toBe(object.length);
    const { digest, manifest, parts } = completeBody(t.api);
    expect(parts).toEqual(Array.from({ length: Math.ceil(object.length / 100_000) }, (_, i) => ({ partNumber: i + 1, etag: `"etag-${i + 1}"` })));
    // The release digest (docs/release-format.md §3.5), which the signed manifest carries too.
    const headerLength = HEADER_PREFIX_BYTES + parseHeaderPrefix(object.subarray(0, HEADER_PREFIX_BYTES)).remaining;
    expect(digest).toBe(releaseDigestOf(object, headerLength, DEFAULT_SEGMENT_SIZE).toString('hex'));
    // Only the two trusted, online key servers with master key v2 were ever asked, each once.
    const trusted = t.agents.slice(0, 2).map((a) => a.view.agentId);
    expect([...t.sealedBy].sort()).toEqual([...trusted].sort());
    expect(result.stderr).toContain('did not seal the release within 1 s; asking the next one');
    // What the second key server received opens, under its key and the shared context, to a key that decrypts the upload.
    const seals = t.api.requests.filter((r) => r.path.endsWith('/seal')).map((r) => r.body as { agentId: string; wrappedReleaseKey: string });
    const second = t.agents.find((a) => a.view.agentId === seals[1]!.agentId)!;
    const ids3 = { accountId: ids.account, appId: ids.app, releaseId: ids.release };
    const releaseKey = await hpkeUnwrap(second.encryptionPrivateKey, releaseKeyToKeyServerContext(ids3), fromB64(seals[1]!.wrappedReleaseKey));
    const out = path.join(t.root, 'decrypted.tgz');
    await decryptRelease({ input: object, outputPath: out, releaseKey, context: releaseContext(ids3), manifest: fromB64(manifest), signerPublicKey: t.owner.publicKey, durable: false });
    expect(brotliDecompressSync(await readFile(out)).toString('latin1')).toContain('PLAINTEXT-MARKER');
    expect((await readdir(scratch)).filter((name) => name.startsWith('latchkey-push-'))).toEqual([]);
  });

  it('a secure application without a trusted online key server is refused before anything is uploaded', async () => {
    const t = await setUp({ secure: true, agents: () => [makeAgent({ privateKey: randomBytes(32), publicKey: Buffer.alloc(0) }, ids.account, { masterVersions: [1] })] });
    const result = await t.push();
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no trusted key server is online');
    expect(t.api.calls().sort()).toEqual(['GET /agents', 'GET /apps', 'GET /master-key', 'GET /me', 'GET /statements']);
    expect((await readdir(scratch)).filter((name) => name.startsWith('latchkey-push-'))).toEqual([]);
  });

  it('passes over a key server that does not take the release key within seconds, however long the seal timeout', async () => {
    // Prepare: two trusted key servers; the first asked is dead (still listed online) and never takes it.
    const t = await setUp({ secure: true, takes: (n) => n > 0, agents: (owner) => [makeAgent(owner, ids.account, { masterVersions: [1] }), makeAgent(owner, ids.account, { masterVersions: [1] })] });

    // Act
    const result = await t.push(['--seal-timeout', '600']);

    // Assess: the next one was asked after the acknowledgement timeout, not the seal timeout.
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`did not take the release key within ${ACK_TIMEOUT_MS / 1000} s; asking the next one`);
    expect(t.sealedBy).toHaveLength(2);
    const polls = t.api.calls().filter((c) => c === `GET /apps/${ids.app}/releases/${ids.release}`).length;
    expect(polls).toBeLessThanOrEqual(ACK_TIMEOUT_MS / POLL_MS + 2);
  });

  it('waits for the next master key version while one is being made after a key server was removed', async () => {
    // Prepare: v1 was retired; v2 appears on the fourth look.
    const t = await setUp({
      secure: true,
      masterKey: (calls) => (calls < 3 ? { version: null, retiredThrough: 1 } : { version: 2, retiredThrough: 1 }),
      answers: () => true,
      agents: (owner) => [makeAgent(owner, ids.account, { masterVersions: [1, 2] })],
    });

    // Act
    const result = await t.push(['--seal-timeout', '20']);

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(t.sealedBy).toHaveLength(1);
  });

  it('fails when no key server seals in time, saying the release cannot be deployed', async () => {
    const t = await setUp({ secure: true, agents: (owner) => [makeAgent(owner, ids.account, { masterVersions: [1] })] });
    const result = await t.push(['--seal-timeout', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('No key server sealed release');
    expect(t.sealedBy).toHaveLength(1);
    expect((await readdir(scratch)).filter((name) => name.startsWith('latchkey-push-'))).toEqual([]);
  });

  it('refuses to push plain an application the owner\'s statement says is secure, whatever the API says (a backend that flipped it)', async () => {
    // Prepare: the API says plain; the owner signed it secure.
    const t = await setUp({ secure: false });
    const statement = signStatement(t.owner.privateKey, { v: 1, kind: 'application', accountId: ids.account, appId: ids.app, name: 'web-api', secure: true, version: 2, issuedAt: iso });
    t.api.routes['GET /statements'] = () => ({ body: { items: [{ ...statement, recordedAt: iso }] } });

    // Act
    const result = await t.push();

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is secure by the owner\'s statement (version 2), but the API says plain; nothing was pushed');
    expect(t.api.calls()).not.toContain(`POST /apps/${ids.app}/releases`);
  });

  it('refuses to push when the API hides the application statement this machine has seen (a backend that flipped it and hid why)', async () => {
    // Prepare: the API says plain and shows no statement; this machine pinned version 2 of it.
    const t = await setUp({ secure: false });
    const statement = signStatement(t.owner.privateKey, { v: 1, kind: 'application', accountId: ids.account, appId: ids.app, name: 'web-api', secure: true, version: 2, issuedAt: iso });
    await pinStatements(path.join(t.root, 'config', 'config.json'), ids.account, [statement.statement]);
    t.api.routes['GET /statements'] = () => ({ body: { items: [] } });

    // Act
    const result = await t.push();

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The API shows no owner statement for web-api, but this machine has seen version 2 of it; nothing was pushed');
    expect(t.api.calls()).not.toContain(`POST /apps/${ids.app}/releases`);
  });

  it('refuses a directory that does not exist, sending nothing', async () => {
    const api = fakeApi({});
    const result = await runCli(['push', 'web-api', '/nonexistent/dir'], api);
    expect(result.code).toBe(2);
    expect(api.requests).toEqual([]);
  });
});
