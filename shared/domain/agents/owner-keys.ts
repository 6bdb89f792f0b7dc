import { signingKeyVouchProblem, type VouchedSigningKey } from '#shared/protocol/signing-keys.ts';
import { fromB64, keyFingerprint } from '#shared/protocol/trust.ts';
import type { Actor } from '../access/actor.ts';
import type { DirectoryDeps } from '../directory/deps.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';

export const keyView = (key: { publicKey: string; registeredAt: string }) => ({
  publicKey: key.publicKey,
  fingerprint: keyFingerprint(fromB64(key.publicKey)),
  registeredAt: key.registeredAt,
});

export const makeOwnerKeys = ({ directory, act, clock }: Omit<DirectoryDeps, 'ids'>) => {
  /** The backend keeps only a statement the owner key signed: targets would refuse any other. */
  const checkVouch = async (ids: { accountId: string; userId: string }, publicKey: string, vouch: VouchedSigningKey) => {
    const account = await directory.getAccount(ids.accountId);
    if (!account?.ownerKey) throw new ConflictError('Register the owner key first (PUT /account/owner-key)');
    const problem = signingKeyVouchProblem(fromB64(account.ownerKey.publicKey), vouch, { ...ids, publicKey });
    if (problem) throw new ValidationError(`vouch: ${problem}`, 'vouch');
  };

  return {
    /** Once per account: agents pin it, so it can never be swapped afterwards. */
    setOwnerKey: (actor: Actor, publicKey: string) =>
      act(actor, 'account:owner-key', { target: { type: 'account', id: actor.accountId } }, async () => {
        const account = await directory.setOwnerKey(actor.accountId, { publicKey, registeredAt: clock.now().toISOString() });
        return keyView(account.ownerKey!);
      }),

    /**
     * Registers the person's key, once; with the owner's statement for it (the owner's own CLI
     * sends one at registration), or later again with one. Registering the same key again without
     * a statement keeps the statement on record.
     */
    setSigningKey: (actor: Actor, publicKey: string, vouch?: VouchedSigningKey) =>
      act(actor, 'me:signing-key', { target: { type: 'user', id: actor.userId } }, async () => {
        if (vouch) await checkVouch(actor, publicKey, vouch);
        const current = (await directory.getUser(actor.accountId, actor.userId))?.signingKey;
        const same = current?.publicKey === publicKey ? current : undefined;
        const kept = vouch ?? same?.vouch;
        const user = await directory.setSigningKey(actor.accountId, actor.userId, { publicKey, registeredAt: same?.registeredAt ?? clock.now().toISOString(), ...(kept ? { vouch: kept } : {}) });
        return keyView(user.signingKey!);
      }),

    /**
     * The owner's statement for another person's key (`latchkey keys vouch`, which takes the key
     * from that person, not from here). It must name the key the person registered.
     */
    vouchSigningKey: (actor: Actor, userId: string, vouch: VouchedSigningKey) =>
      act(actor, 'users:vouch-signing-key', { target: { type: 'user', id: userId } }, async () => {
        const user = await directory.getUser(actor.accountId, userId);
        if (!user) throw new NotFoundError('No such person');
        if (!user.signingKey) throw new ConflictError(`${user.email} has not registered a release-signing key yet (they run \`latchkey login\`)`);
        await checkVouch({ accountId: actor.accountId, userId }, user.signingKey.publicKey, vouch);
        const updated = await directory.setSigningKey(actor.accountId, userId, { ...user.signingKey, vouch });
        return keyView(updated.signingKey!);
      }),
  };
};
