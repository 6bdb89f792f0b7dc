import type { TokenRef } from '../accounts/model.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';

/**
 * A token never outlives the token that made it (the stolen-token story: a deployer's
 * stolen token minted year-long tokens that survived its revocation):
 *   - a new token expires no later than its parent;
 *   - revoking a token revokes every token made with it, and the tokens made with those.
 * Without transactions, a token made while its parent is being revoked is caught by one side:
 * the maker writes the link from the parent before the token and reads the parent again after
 * (`create` in tokens.ts); the revoker marks the parent revoked before it lists what was made
 * with it. Whichever runs second sees the other's write.
 */

/** The expiry of a token made now for `days` with a parent expiring at `parentExpiresAt`. */
export const childExpiry = (now: Date, days: number, parentExpiresAt: string): string => {
  const asked = new Date(now.getTime() + days * 86_400_000).toISOString();
  return asked < parentExpiresAt ? asked : parentExpiresAt;
};

/**
 * Revokes `root` and everything made with it, parent before children, breadth first. Answers the
 * ids of the tokens found under `root` (revoked now or before); a link to a token that was never
 * written is passed over.
 */
export const revokeWithDescendants = async (
  directory: Pick<DirectoryStore, 'revokeToken' | 'tokensMadeWith'>,
  accountId: string,
  root: TokenRef,
  at: string,
): Promise<{ root: Awaited<ReturnType<DirectoryStore['revokeToken']>>; descendants: string[] }> => {
  const seen = new Set<string>([root.tokenId]);
  const rootToken = await directory.revokeToken(root, at);
  const descendants: string[] = [];
  const queue = await directory.tokensMadeWith(accountId, root.tokenId);
  while (queue.length) {
    const next = queue.shift()!;
    if (seen.has(next.tokenId)) continue;
    seen.add(next.tokenId);
    if (!(await directory.revokeToken(next, at))) continue;
    descendants.push(next.tokenId);
    queue.push(...(await directory.tokensMadeWith(accountId, next.tokenId)));
  }
  return { root: rootToken, descendants };
};
