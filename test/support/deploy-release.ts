import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { expect } from 'vitest';
import { signManifest } from '#shared/crypto/index.ts';
import { plainManifest, releaseContext } from '#cli/commands/push.ts';
import { ownerKeyPath, readKeyFile } from '#cli/keys.ts';
import { releaseUserDir } from './agents.ts';
import { localClients } from './clients.ts';
import type { Cli } from './deploy-agents.ts';
import { whenTestEnds } from './test-scope.ts';

type Release = { releaseId: string; appId: string; version: string; state: string; encrypted: boolean; masterVersion?: number; digest?: string };

/**
 * The seeds' secure package: one secret per environment, and a latchkey.yml whose postInstall
 * moves the environment's secret (SECRET_FILE) to DESTINATION_FILE, deletes the others and makes
 * it 0600 — in the seeds' own list-of-lines form. VERSION tells which release is installed.
 */
export const SEED_MANIFEST = `
Env:
  - SECRET_FILE: "set_this_value_in_the_latchkey_env_variables"
  - DESTINATION_FILE: "/opt/application/secret.cred"
PkgInclude:
  - secret.cred.*
  - VERSION
PostInstall:
  - if [ "$SECRET_FILE" = "set_this_value_in_the_latchkey_env_variables" ]; then
  -   echo "You must set the SECRET_FILE environment variable."
  -   rm -f secret.cred.*
  -   exit 1
  - fi
  - mv -f "$SECRET_FILE" "$DESTINATION_FILE"
  - rm -f secret.cred.*
  - chmod 600 "$DESTINATION_FILE"
  - echo "installed $SECRET_FILE as $DESTINATION_FILE"
`;

export const ENVIRONMENTS = ['dev', 'stage', 'prod'] as const;

/** A directory to push: the three secrets (random), VERSION and the manifest (`extra` overrides files). */
export const secretsSource = async (version: string, extra: Record<string, string> = {}) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-secure-src-'));
  whenTestEnds(() => rm(dir, { recursive: true, force: true }));
  const secrets = Object.fromEntries(ENVIRONMENTS.map((env) => [env, `${env}-secret-${randomBytes(16).toString('hex')}\n`])) as Record<(typeof ENVIRONMENTS)[number], string>;
  for (const env of ENVIRONMENTS) await writeFile(path.join(dir, `secret.cred.${env}`), secrets[env]);
  await writeFile(path.join(dir, 'VERSION'), `${version}\n`);
  await writeFile(path.join(dir, 'latchkey.yml'), SEED_MANIFEST);
  await writeFile(path.join(dir, 'README.txt'), 'not included: latchkey.yml keeps only the secrets and VERSION\n');
  for (const [name, content] of Object.entries(extra)) await writeFile(path.join(dir, name), content);
  return { dir, secrets };
};

export const push = async (cli: Cli, app: string, dir: string, version: string) => {
  const result = await cli.run(['push', app, dir, '--version', version, '--json', '--seal-timeout', '20']);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as Release;
};

/** A scratch directory standing in for a target machine's install location, which the release user can write. */
export const machineDir = (name: string) => releaseUserDir(name);

/**
 * What someone who can push, with tools of their own, can make a release: `bytes` as its object,
 * with a plain manifest for exactly those bytes signed by `signer` (by default the owner key in
 * the CLI's config, which is the owner's release-signing key), in place of what `latchkey push`
 * uploaded. Written to the bucket and the release item directly, as `complete` would have.
 */
export const replaceReleaseArchive = async (
  cli: Cli,
  ids: { accountId: string; appId: string; releaseId: string },
  bytes: Buffer,
  signer?: { publicKey: Uint8Array; privateKey: Uint8Array },
  sign: typeof signManifest = signManifest,
) => {
  const { s3, dynamo, env } = localClients();
  const Key = { pk: `ACCOUNT#${ids.accountId}`, sk: `RELEASE#${ids.releaseId}` };
  const { Item: release } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key, ConsistentRead: true }));
  await s3.send(new PutObjectCommand({ Bucket: env.RELEASES_BUCKET!, Key: release!.objectKey as string, Body: bytes }));
  const owner = await readKeyFile(ownerKeyPath(cli.configPath, ids.accountId));
  const sha256 = createHash('sha256').update(bytes).digest();
  const manifest = sign(plainManifest(releaseContext(ids), bytes.length, sha256), signer ?? { publicKey: owner!.publicKey, privateKey: owner!.privateKey! });
  await dynamo.send(
    new UpdateCommand({
      TableName: env.DEPLOYMENTS_TABLE!,
      Key,
      UpdateExpression: 'SET manifest = :manifest, digest = :digest',
      ExpressionAttributeValues: { ':manifest': manifest.toString('base64url'), ':digest': sha256.toString('hex') },
    }),
  );
};
