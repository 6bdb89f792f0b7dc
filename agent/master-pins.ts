import { z } from 'zod';
import { commitsTo, masterCommitment } from '#shared/protocol/trust.ts';
import { readPrivateFile, writePrivateFile } from './state.ts';

/**
 * What this agent knows each master key version to be: a one-way commitment, never the key.
 *
 * Why: HPKE base mode is unauthenticated, so anyone holding this agent's public key — the
 * backend included — can wrap a key of its own choosing and present it as "your copy of master
 * key v1" in a share or rewrap request. If the agent used it, it would re-wrap release keys under
 * a key the backend knows. So the first time the agent holds version N (it minted it, or it
 * learned it), it pins a commitment, and afterwards refuses any other key offered as version N.
 * A version learned from a share is pinned on first use, and only from a copy an owner-enrolled
 * key server signed (handlers/master-copy.ts): the pin stops a later swap, the signature the first.
 */
const pinsFile = z.strictObject({
  v: z.literal(1),
  pins: z.record(
    z.string().regex(/^[0-9]+$/),
    z.strictObject({ accountId: z.string(), commitment: z.string().regex(/^[0-9a-f]{64}$/), source: z.enum(['minted', 'learned']), at: z.string() }),
  ),
});
type PinsFile = z.infer<typeof pinsFile>;

export type PinCheck = 'match' | 'unpinned' | 'mismatch';

export interface MasterPins {
  check(accountId: string, version: number, master: Uint8Array): PinCheck;
  sourceOf(version: number): 'minted' | 'learned' | undefined;
  pin(accountId: string, version: number, master: Uint8Array, source: 'minted' | 'learned'): Promise<void>;
}

export const openMasterPins = async (path: string, now: () => number = Date.now): Promise<MasterPins> => {
  let file: PinsFile = { v: 1, pins: {} };
  const text = await readPrivateFile(path);
  if (text !== undefined) file = pinsFile.parse(JSON.parse(text));
  return {
    check(accountId, version, master) {
      const pin = file.pins[String(version)];
      if (!pin) return 'unpinned';
      const ok = pin.accountId === accountId && commitsTo(pin.commitment, accountId, version, master);
      return ok ? 'match' : 'mismatch';
    },
    sourceOf: (version) => file.pins[String(version)]?.source,
    async pin(accountId, version, master, source) {
      const next: PinsFile = {
        v: 1,
        pins: {
          ...file.pins,
          [String(version)]: { accountId, commitment: masterCommitment(accountId, version, master).toString('hex'), source, at: new Date(now()).toISOString() },
        },
      };
      await writePrivateFile(path, `${JSON.stringify(next, null, 2)}\n`);
      file = next;
    },
  };
};
