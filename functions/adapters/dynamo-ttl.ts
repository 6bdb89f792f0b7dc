import { tables } from '../resources.ts';

/** The TTL attribute (epoch seconds, as DynamoDB's TTL requires): set only on items meant to vanish. */
export const TTL_ATTRIBUTE = tables.directory.timeToLiveAttribute;

/**
 * How long an expired item is kept before DynamoDB may delete it: long enough for the API to
 * keep saying "expired" (not "unknown") for a while. Expiry itself is always checked on read.
 */
const KEPT_AFTER_EXPIRY_SECONDS = 30 * 86_400;

/** The TTL value for an item that expires at `expiresAt` (ISO time). */
export const ttlAfter = (expiresAt: string): { [TTL_ATTRIBUTE]: number } => ({
  [TTL_ATTRIBUTE]: Math.floor(Date.parse(expiresAt) / 1000) + KEPT_AFTER_EXPIRY_SECONDS,
});
