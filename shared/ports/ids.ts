import { randomBytes } from 'node:crypto';

export type IdPrefix = 'acc' | 'usr' | 'tok' | 'grp' | 'env' | 'app' | 'rel' | 'dep' | 'agt' | 'enr' | 'req';

export interface Ids {
  /** A new opaque id such as `acc_2f9c…`: 128 random bits, so ids reveal neither order nor count. */
  next(prefix: IdPrefix): string;
}

export const randomIds: Ids = {
  next: (prefix) => `${prefix}_${randomBytes(16).toString('hex')}`,
};
