/**
 * `npm run bench -- --only transfer` (issue 22): `latchkey push` and a deployment of that release
 * to one target, next to the plain way a user would move the same directory without us, on the
 * same local stack, in the same runs: `tar` piped through `zstd -1` into a multipart upload as
 * `aws s3 cp -` makes it (bench/s3-upload-child.ts); and back,
 * `curl` of a presigned GET piped through `zstd -d` into `tar -x`. Two data sets of the same
 * size: random bytes (images, binaries, compressed assets) and a text tree (source, logs).
 * Latchkey runs as shipped (the esbuild bundles of packaging/bundle.ts): a secure application,
 * two key servers and one target (bench/support/secure-deployment.ts); push is timed from spawn
 * to exit, the deployment from `latchkey deploy` to Succeeded. Peak RSS: push's from GNU time,
 * the target agent's high-water mark (VmHWM) after all its deployments. Target: each within
 * 1.3× the plain way. BENCH_TRANSFER_BYTES (default 1 GiB), BENCH_TRANSFER_RUNS (default 3).
 * Writes bench/reports/transfer.md.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { build } from 'esbuild';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { bundleBinary, bundleOptions } from '../packaging/bundle.ts';
import { apiClient, expectStatus } from './support/api-client.ts';
import { isMain, machineLine, publish, table, type BenchModule } from './support/report.ts';
import { median } from './support/stats.ts';
import { poll } from './support/workflow.ts';

const SIZE = Number(process.env.BENCH_TRANSFER_BYTES ?? 2 ** 30);
const RUNS = Number(process.env.BENCH_TRANSFER_RUNS ?? 3);
export const TARGET_RATIO = 1.3;
const FILE_BYTES = 16 * 2 ** 20;

/** `size` bytes in 16 MiB files: random, or lines of words (compresses ~5:1 with zstd -1). */
const writeTree = async (dir: string, size: number, kind: 'random' | 'text') => {
  await mkdir(dir, { recursive: true });
  const words = ['deploy', 'release', 'const', 'function', 'return', 'import', 'export', 'await', 'config', 'server', 'latchkey', 'target', 'value', 'error'];
  for (let n = 0, left = size; left > 0; n += 1, left -= FILE_BYTES) {
    const bytes = Math.min(FILE_BYTES, left);
    const out = createWriteStream(path.join(dir, `part-${String(n).padStart(4, '0')}.${kind === 'random' ? 'bin' : 'txt'}`));
    for (let written = 0; written < bytes; ) {
      let chunk: Buffer;
      if (kind === 'random') chunk = randomBytes(Math.min(2 ** 20, bytes - written));
      else {
        const lines: string[] = [];
        for (let b = 0; b < Math.min(2 ** 20, bytes - written); ) {
          const line = `${Array.from({ length: 10 }, () => words[Math.floor(Math.random() * words.length)]).join(' ')} ${Math.floor(Math.random() * 1e6)}\n`;
          lines.push(line);
          b += line.length;
        }
        chunk = Buffer.from(lines.join('')).subarray(0, Math.min(2 ** 20, bytes - written));
      }
      written += chunk.byteLength;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
    }
    await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  }
};

/** Runs a command to its end; wall ms and (with GNU time) peak RSS in MiB. */
const timed = (command: string, args: string[], env: Record<string, string | undefined> = {}) =>
  new Promise<{ ms: number; rssMiB: number; stdout: string }>((resolve, reject) => {
    const rssFile = path.join(tmpdir(), `latchkey-transfer-rss-${randomBytes(4).toString('hex')}`);
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', '%M', '-o', rssFile, command, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', async (code) => {
      const ms = performance.now() - started;
      const rssKiB = Number((await readFile(rssFile, 'utf8').catch(() => '0')).trim().split('\n').pop());
      await rm(rssFile, { force: true });
      if (code !== 0) return reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr.slice(-2000)}`));
      resolve({ ms, rssMiB: rssKiB / 1024, stdout });
    });
  });

/** A process's resident set now (VmRSS) or at its peak so far (VmHWM), in MiB. */
const memoryMiB = async (pid: number, field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

export const transfer = async (): Promise<string> => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const work = await mkdtemp(path.join(tmpdir(), 'latchkey-transfer-'));
  await chmod(work, 0o711);
  // Latchkey as shipped: the bundles, for the CLI here and the agents the setup starts.
  const bins = path.join(work, 'bins');
  for (const name of ['latchkey', 'latchkey-agent'] as const) await bundleBinary(path.resolve(import.meta.dirname, '..'), name, bins, '0.0.0-bench');
  await chmod(bins, 0o755);
  process.env.LATCHKEY_BUNDLED_BINS = bins;
  // The plain way's uploader, bundled the same way (no TypeScript compile in its time either).
  await build({ ...bundleOptions(path.resolve(import.meta.dirname, '..'), 'bench/s3-upload-child.ts', path.join(work, 'uploader'), '0', 's3-upload'), logLevel: 'error' });
  const uploader = path.join(work, 'uploader', 's3-upload.mjs');
  const { LOCAL_CREDENTIALS, startLocalStack } = await import('#local/stack.ts');
  const { secureDeploymentSetup } = await import('./support/secure-deployment.ts');
  const { cliBin } = await import('#local/demo/processes.ts');

  const stack = await startLocalStack({ port: 0 });
  const setup = await secureDeploymentSetup(stack.endpoints, { releaseBytes: 1024, say: (line) => console.log(line) });
  const rows: string[][] = [];
  const agentIdleMiB = await memoryMiB(setup.target.child.pid!, 'VmHWM');
  const verdicts: string[] = [];
  let pushRss = 0;
  try {
    const s3 = new S3Client({ region: stack.endpoints.region, credentials: LOCAL_CREDENTIALS, endpoint: stack.endpoints.s3, forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED' });
    const Bucket = stack.env.RELEASES_BUCKET!;
    const client = apiClient(setup.endpoint).as(setup.ownerToken);
    // As people deploy: `latchkey deploy` signs the deployer's intent, which key servers and targets require.
    const deploy = async (version: string) => {
      const started = performance.now();
      const { deploymentId } = JSON.parse((await timed(process.execPath, [cliBin, 'deploy', 'web', version, 'prod', '--json'], setup.ownerEnv)).stdout) as { deploymentId: string };
      const view = await poll(`deployment ${deploymentId} to end`, async () => {
        const now = expectStatus(await client('GET', `/deployments/${deploymentId}`), 200, 'read the deployment');
        return ['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired'].includes(now.state) ? now : undefined;
      }, 30 * 60_000);
      if (view.state !== 'Succeeded') throw new Error(`deployment ${deploymentId} ended ${view.state}: ${view.outcome?.reason ?? ''}`);
      return performance.now() - started;
    };
    let version = 0;
    for (const kind of ['random', 'text'] as const) {
      const source = path.join(work, kind);
      await writeTree(source, SIZE, kind);
      const times: Record<'plainPush' | 'push' | 'plainDeploy' | 'deploy', number[]> = { plainPush: [], push: [], plainDeploy: [], deploy: [] };
      let compressed = 0;
      let uploaded = 0;
      for (let run = 0; run < RUNS; run += 1) {
        // The plain way: pack, compress and upload; download, decompress and unpack.
        const Key = `bench/transfer-${kind}-${run}.tar.zst`;
        const plainPush = await timed('sh', ['-c', 'tar -cf - -C "$1" . | zstd -1 -q -c | "$2" "$3" "$4" "$5" "$6" "$7"', 'plain', source, process.execPath, uploader, stack.endpoints.s3, stack.endpoints.region, Bucket, Key]);
        compressed = (await s3.send(new HeadObjectCommand({ Bucket, Key }))).ContentLength ?? 0;
        const out = path.join(work, 'plain-out');
        await rm(out, { recursive: true, force: true });
        await mkdir(out);
        const get = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key }), { expiresIn: 3600 });
        const plainDeploy = await timed('sh', ['-c', 'curl -sSf "$1" | zstd -d -q -c | tar -x -C "$2"', 'plain', get, out]);
        await rm(out, { recursive: true, force: true });
        // Latchkey: push (secure: encrypted here, its key sealed by a key server), then deploy it.
        version += 1;
        const pushed = await timed(process.execPath, [cliBin, 'push', 'web', source, '--version', `2.${version}.0`, '--json', '--seal-timeout', '120'], setup.ownerEnv);
        const release = JSON.parse(pushed.stdout) as { releaseId: string; size: number };
        uploaded = release.size;
        pushRss = Math.max(pushRss, pushed.rssMiB);
        const deployMs = await deploy(`2.${version}.0`);
        // The local S3 keeps objects in memory: what this run uploaded goes, so later runs are not slowed by it.
        await s3.send(new DeleteObjectCommand({ Bucket, Key }));
        for (const object of (await s3.send(new ListObjectsV2Command({ Bucket, Prefix: `accounts/${setup.accountId}/` }))).Contents ?? []) {
          if (object.Key?.includes(release.releaseId)) await s3.send(new DeleteObjectCommand({ Bucket, Key: object.Key }));
        }
        times.plainPush.push(plainPush.ms);
        times.plainDeploy.push(plainDeploy.ms);
        times.push.push(pushed.ms);
        times.deploy.push(deployMs);
        console.log(`[${kind}] run ${run + 1}: plain push ${plainPush.ms.toFixed(0)} ms, push ${pushed.ms.toFixed(0)} ms, plain deploy ${plainDeploy.ms.toFixed(0)} ms, deploy ${deployMs.toFixed(0)} ms`);
      }
      await rm(source, { recursive: true, force: true });
      const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<keyof typeof times, number>;
      const ratio = (ours: number, plain: number) => {
        const r = ours / plain;
        return `${r.toFixed(2)}× ${r <= TARGET_RATIO ? 'ok' : `**misses ${TARGET_RATIO}×**`}`;
      };
      const mb = (bytes: number) => (bytes / 1e6).toFixed(0);
      rows.push([`${kind}: push`, (m.plainPush / 1000).toFixed(1), (m.push / 1000).toFixed(1), ratio(m.push, m.plainPush), `zstd -1: ${mb(compressed)} MB; latchkey (brotli 1, encrypted): ${mb(uploaded)} MB`]);
      rows.push([`${kind}: deploy`, (m.plainDeploy / 1000).toFixed(1), (m.deploy / 1000).toFixed(1), ratio(m.deploy, m.plainDeploy), 'plain: download → zstd -d → tar -x; latchkey: `latchkey deploy` → Succeeded (key server grant, download, decrypt, unpack, postInstall, switch)']);
      verdicts.push(kind);
    }
    const agentRss = await memoryMiB(setup.target.child.pid!, 'VmHWM');
    return [
      `## Push and deploy next to the plain way (${(SIZE / 2 ** 30).toFixed(2)} GiB, median of ${RUNS} runs)`,
      '',
      `Measured ${new Date().toISOString()}. Machine: ${machineLine()}. Each data set is ${(SIZE / 2 ** 30).toFixed(2)} GiB in 16 MiB files: random bytes, or lines of words. The plain way, in the same runs on the same local stack: \`tar -cf - DIR | zstd -1 | <upload>\`, the upload streaming stdin into an S3 multipart upload of 8 MiB parts, four at a time, as \`aws s3 cp - s3://…\` does (bench/s3-upload-child.ts, bundled; the local S3 takes at most 11 MiB per request), and \`curl <presigned GET> | zstd -d | tar -x\`. Latchkey as shipped (esbuild bundles) to a secure application: push from spawn to exit (pack with brotli 1, encrypt, upload, complete, seal the key with a key server); a deployment from \`latchkey deploy\` (it signs the deployer's intent) to Succeeded on one target (the key server's grant, then download, decrypt and unpack in one stream, a postInstall, the switch). Target: each within ${TARGET_RATIO}× the plain way.`,
      '',
      table(['What', 'plain way s', 'latchkey s', 'latchkey / plain', 'notes'], rows),
      '',
      `Peak RSS: push ${pushRss.toFixed(0)} MiB (GNU time, largest of the runs); the target agent ${agentRss.toFixed(0)} MiB (its VmHWM after every deployment of the run; ${agentIdleMiB.toFixed(0)} MiB before the first of them, once enrolled and running). Target: under 100 MiB whatever the size.`,
    ].join('\n');
  } finally {
    await setup.stop();
    await stack.stop();
    await rm(work, { recursive: true, force: true });
  }
};

export const transferBench: BenchModule = { name: 'transfer', run: transfer };

if (isMain(import.meta.url)) await publish('transfer.md', await transfer());
