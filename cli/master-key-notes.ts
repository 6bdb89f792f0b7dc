import type { ResponseOf } from './api-client.ts';

type MasterKeyStatus = ResponseOf<'GET /master-key'>;

const label = (k: MasterKeyStatus['keyServers'][number]) => (k.name ? `${k.name} (${k.agentId})` : k.agentId);

/**
 * What people must know about the master key, one line each (DESIGN §5): which version new
 * releases are sealed under, which key servers are still learning it, and a warning when one
 * loss — or none — stands between the account and losing every release sealed under it.
 * Nothing when the account has no key servers.
 */
export const masterKeyNotes = (status: MasterKeyStatus): string[] => {
  const { version, keyServers } = status;
  if (keyServers.length === 0) return [];
  if (version === null) {
    return [
      status.retiredThrough > 0
        ? `The master key is being replaced (a key server holding v${status.retiredThrough} was removed): new pushes wait for the next version.`
        : `No master key yet: it is made once two key servers are enrolled and online (${keyServers.length} enrolled).`,
    ];
  }
  const holders = keyServers.filter((k) => k.online && k.holdsCurrent);
  const notes = [`Master key v${version}: held by ${holders.length} of ${keyServers.filter((k) => k.online).length} online key servers.`];
  for (const k of keyServers.filter((k) => !k.holdsCurrent)) {
    notes.push(`${label(k)} has not learned master key v${version} yet${k.online ? '' : ' (it is offline)'}.`);
  }
  if (holders.length === 1) {
    notes.push(`Warning: only ${label(holders[0]!)} holds master key v${version} online: losing it loses every release sealed under v${version}. Enrol another key server.`);
  } else if (holders.length === 0) {
    notes.push(`Warning: no online key server holds master key v${version}: releases sealed under it cannot be deployed until one is back.`);
  }
  return notes;
};
