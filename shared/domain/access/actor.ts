import type { Role } from '../accounts/model.ts';

/** Who is asking: resolved from a bearer token on every request, never cached. */
export type Actor = {
  accountId: string;
  userId: string;
  role: Role;
  tokenId: string;
  /** The store key of the API token that authenticated the request (absent for an approval link). */
  tokenSecretHash?: string;
};
