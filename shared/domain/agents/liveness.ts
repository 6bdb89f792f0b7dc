/**
 * Liveness on the backend's clock (DESIGN §6): an agent is online while the last heartbeat the
 * backend *received* is recent. The time an agent writes into its heartbeat is never trusted for
 * that; it only has to be close to the receipt time and newer than the last one accepted, so a
 * heartbeat captured once cannot be replayed to keep a dead agent listed as online.
 */

/** How far a heartbeat's own time may be from the backend's receipt time. */
export const HEARTBEAT_SKEW_SECONDS = 60;

export type Seen = { lastSeenAt?: string | undefined; removedAt?: string | undefined; unresponsiveSince?: string | undefined };

/**
 * Online: not removed, heard from within the window, and not found unresponsive since (it did not
 * take a request in time): a key server that died is passed over by one request, not by every
 * request until its heartbeats are old. Its next heartbeat, if it is alive, makes it online again.
 */
export const isOnline = (agent: Seen, now: Date, onlineSeconds: number) =>
  !agent.removedAt &&
  !!agent.lastSeenAt &&
  Date.parse(agent.lastSeenAt) >= now.getTime() - onlineSeconds * 1000 &&
  !(agent.unresponsiveSince && agent.unresponsiveSince >= agent.lastSeenAt);

export type HeartbeatVerdict = { accept: true } | { accept: false; reason: 'Stale' | 'Replayed' };

/**
 * Whether a heartbeat counts: its claimed time within the skew of the receipt time, and newer
 * than the last heartbeat accepted from this agent (`lastHeartbeatAt`, the agent's own times).
 */
export const judgeHeartbeat = (claimedAt: string, receivedAt: Date, lastHeartbeatAt: string | undefined): HeartbeatVerdict => {
  const claimed = Date.parse(claimedAt);
  if (!Number.isFinite(claimed) || Math.abs(claimed - receivedAt.getTime()) > HEARTBEAT_SKEW_SECONDS * 1000) return { accept: false, reason: 'Stale' };
  if (lastHeartbeatAt && Date.parse(lastHeartbeatAt) >= claimed) return { accept: false, reason: 'Replayed' };
  return { accept: true };
};
