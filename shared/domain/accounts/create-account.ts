import type { Clock } from '#shared/ports/clock.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import type { Ids } from '#shared/ports/ids.ts';
import type { AuditTrail } from '../audit/audit-trail.ts';
import type { CreateAccountInput, CreateAccountOutput } from '#shared/protocol/accounts.ts';
import { mintToken } from './token-secret.ts';

export const OWNER_TOKEN_LIFETIME_DAYS = 90;

type Ports = {
  directory: Pick<DirectoryStore, 'putAccount' | 'putUser' | 'putToken'>;
  audit: Pick<AuditTrail, 'append'>;
  clock: Clock;
  ids: Ids;
};

export const makeCreateAccount =
  ({ directory, audit, clock, ids }: Ports) =>
  async (input: CreateAccountInput): Promise<CreateAccountOutput> => {
    // 1. Mint ids and the owner's first token; only the token's hash will be stored.
    // 2. Write the owner, then the account, then the token: no transactions, so the order
    //    makes any partial failure harmless (an account without a token is unreachable).
    // 3. Start the account's audit chain with its creation.
    // 4. Return the secret once; it cannot be recovered later.
    const now = clock.now();
    const accountId = ids.next('acc');
    const ownerId = ids.next('usr');
    const { token, secret } = mintToken({ accountId, userId: ownerId }, ids.next('tok'), 'owner (created with the account)', now, OWNER_TOKEN_LIFETIME_DAYS);
    const createdAt = now.toISOString();

    await directory.putUser({
      accountId,
      userId: ownerId,
      name: input.owner.name,
      email: input.owner.email,
      role: 'owner',
      createdAt,
    });
    await directory.putAccount({ accountId, name: input.accountName, ownerId, createdAt });
    await directory.putToken(token);

    await audit.append(accountId, {
      action: 'account:create',
      actor: { userId: ownerId, tokenId: token.tokenId },
      target: { type: 'account', id: accountId },
      outcome: 'succeeded',
    });

    return { accountId, ownerId, token: { id: token.tokenId, secret, expiresAt: token.expiresAt } };
  };
