import { fromB64, keyFingerprint } from '#shared/protocol/trust.ts';
import type { Actor } from '../access/actor.ts';
import type { DirectoryDeps } from '../directory/deps.ts';

export const keyView = (key: { publicKey: string; registeredAt: string }) => ({
  publicKey: key.publicKey,
  fingerprint: keyFingerprint(fromB64(key.publicKey)),
  registeredAt: key.registeredAt,
});

export const makeOwnerKeys = ({ directory, act, clock }: Omit<DirectoryDeps, 'ids'>) => ({
  /** Once per account: agents pin it, so it can never be swapped afterwards. */
  setOwnerKey: (actor: Actor, publicKey: string) =>
    act(actor, 'account:owner-key', { target: { type: 'account', id: actor.accountId } }, async () => {
      const account = await directory.setOwnerKey(actor.accountId, { publicKey, registeredAt: clock.now().toISOString() });
      return keyView(account.ownerKey!);
    }),

  setSigningKey: (actor: Actor, publicKey: string) =>
    act(actor, 'me:signing-key', { target: { type: 'user', id: actor.userId } }, async () => {
      const user = await directory.setSigningKey(actor.accountId, actor.userId, { publicKey, registeredAt: clock.now().toISOString() });
      return keyView(user.signingKey!);
    }),
});
