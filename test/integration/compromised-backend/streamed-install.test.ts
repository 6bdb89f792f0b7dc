import { randomBytes } from 'node:crypto';
import { access, readdir } from 'node:fs/promises';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { localClients } from '../../support/clients.ts';
import { accountWithKeyServers, currentOf, deployAndWait, expectSucceeded, startTarget } from '../../support/deploy-agents.ts';
import { machineDir, push } from '../../support/deploy-release.ts';
import { sourceDir } from '../../support/fault-stack.ts';

/**
 * Issue 22: a target unpacks a secure release while it downloads and decrypts it (into the app's
 * incoming/ directory, chunk by verified chunk). Whoever can write the bucket (a compromised
 * backend) serves the object tampered in its last segment, cut short, or another release's
 * object: every time the deployment fails as IntegrityCheckFailed, nothing of it runs, nothing is
 * left in incoming/ or releases/, and `current` stays (docs/release-format.md §3.4.1).
 */

const objectKeyOf = async (accountId: string, releaseId: string) => {
  const { s3, env } = localClients();
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: env.RELEASES_BUCKET!, Prefix: `accounts/${accountId}/` }));
  return listed.Contents!.map((o) => o.Key!).find((k) => k.includes(releaseId))!;
};
const readObject = async (Key: string) => {
  const { s3, env } = localClients();
  return Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: env.RELEASES_BUCKET!, Key }))).Body!.transformToByteArray());
};
const writeObject = (Key: string, Body: Buffer) => localClients().s3.send(new PutObjectCommand({ Bucket: localClients().env.RELEASES_BUCKET!, Key, Body }));

describe('a streamed install, against a compromised bucket', () => {
  it('the object tampered in its last segment, truncated, or swapped for another release’s: refused as IntegrityCheckFailed, no script runs, incoming/ and releases/ hold nothing of it, `current` stays', { timeout: 300_000 }, async () => {
    // Prepare: a secure app with 1.0.0 installed on t-dev; each release is ~6 MiB of random bytes
    // (several 1 MiB chunks: the first ones reach tar before the last one is read) and a
    // postInstall that leaves a mark on the machine.
    const { cli, account } = await accountWithKeyServers();
    const machine = await machineDir('streamed');
    await cli.json(['envs', 'create', 'dev']);
    await cli.json(['apps', 'create', 'big']);
    await cli.json(['apps', 'secure', 'big']);
    const target = await startTarget(cli, 't-dev', ['dev']);
    const release = async (version: string) =>
      push(cli, 'big', await sourceDir({ 'payload.b64': randomBytes(4_500_000).toString('base64'), 'latchkey.yml': `postInstall: touch ${path.join(machine, `ran-${version}`)}\n` }), version);
    const r1 = await release('1.0.0');
    expectSucceeded(await deployAndWait(cli, 'big', '1.0.0', 'dev'));
    const appDir = target.appDir(r1.appId);
    const live = await currentOf(appDir);
    const installed = await readdir(path.join(appDir, 'releases'));
    const v1Object = await readObject(await objectKeyOf(account.accountId, r1.releaseId));

    const attacks: [string, (bytes: Buffer) => Buffer][] = [
      ['a bit flipped in the last segment', (bytes) => (bytes[bytes.length - 30]! ^= 0x01, bytes)],
      ['the last 100 bytes cut off', (bytes) => bytes.subarray(0, bytes.length - 100)],
      ['1.0.0’s object in its place', () => v1Object],
    ];
    for (const [i, [what, tamper]] of attacks.entries()) {
      // Act
      const version = `2.0.${i}`;
      const r = await release(version);
      const Key = await objectKeyOf(account.accountId, r.releaseId);
      await writeObject(Key, tamper(await readObject(Key)));
      const deployment = await deployAndWait(cli, 'big', version, 'dev');

      // Assess
      expect(deployment.state, what).toBe('Failed');
      expect(deployment.outcome?.reason, what).toMatch(/t-dev \(agt_[0-9a-f]{32}\): IntegrityCheckFailed: the release file is refused/);
      expect(await currentOf(appDir), what).toBe(live);
      expect((await readdir(path.join(appDir, 'releases'))).sort(), what).toEqual(installed.sort());
      expect(await readdir(path.join(appDir, 'incoming')), what).toEqual([]);
      expect(await readdir(path.join(target.state, 'staging')), what).toEqual([]);
      await expect(access(path.join(machine, `ran-${version}`)), what).rejects.toThrow();
    }
    await expect(access(path.join(machine, 'ran-1.0.0'))).resolves.toBeUndefined();
  });
});
