import type { Role } from '../accounts/model.ts';

/** Who is asking: resolved from a bearer token on every request, never cached. */
export type Actor = {
  accountId: string;
  userId: string;
  role: Role;
  tokenId: string;
};
