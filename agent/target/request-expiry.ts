/**
 * How far this machine's clock may run ahead of the backend's: a request counts as expired only
 * once its expiry is this far behind us, so a target with a fast clock does not refuse one the
 * backend still waits for.
 */
export const CLOCK_SKEW_MS = 60_000;

/**
 * Whether the backend has stopped waiting for a deploy request (its `expiresAt`, give or take
 * the skew). Such a request — a copy the queue hands back after a restart, or one delivered
 * after a newer deployment — must never install, plain or secure.
 */
export const requestExpired = (expiresAt: string, now: number, skewMs = CLOCK_SKEW_MS) => now > Date.parse(expiresAt) + skewMs;
