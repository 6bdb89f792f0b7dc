import { createHash } from 'node:crypto';
import { signManifest } from '#shared/crypto/index.ts';
import { plainManifest, releaseContext } from '#cli/commands/push.ts';
import { newAccount } from './accounts.ts';
import { registerOwnerKey } from './agents.ts';
import { vouchedPerson } from './statements.ts';

type KeyPair = { publicKey: Uint8Array; privateKey: Uint8Array };

/**
 * An account whose owner and deployer push through the API as the CLI does: the owner key
 * registered, and each of them with a release-signing key the owner vouched for in their person
 * statement (the owner signs releases with the owner key). `complete` verifies manifests under them.
 */
export const pushingAccount = async () => {
  const a = await newAccount();
  const ownerKey = await registerOwnerKey(a.owner);
  const ownerUser = (await a.owner('GET', '/me')).body.user;
  await vouchedPerson(a.owner, ownerKey, a.accountId, ownerUser, ownerKey);
  const deployerKey = await vouchedPerson(a.owner, ownerKey, a.accountId, a.deployer.user);
  return { ...a, ownerKey, signingKeys: { owner: ownerKey, deployer: deployerKey } };
};

/** The signed manifest of a plain release of `bytes`, base64url, as `latchkey push` completes one. */
export const plainManifestOf = (ids: { accountId: string; appId: string; releaseId: string }, bytes: Uint8Array, keys: KeyPair) =>
  signManifest(plainManifest(releaseContext(ids), bytes.length, createHash('sha256').update(bytes).digest()), keys).toString('base64url');
