import { z } from 'zod';
import { readPrivateFile, writePrivateFile } from '../state.ts';

/**
 * The deployments this target has already accepted, by deployment id, with the request that
 * carried each. A grant names one deployment, so a grant seen again in another request is a
 * replay (the backend resending an old deployment) and is refused. The same request coming back
 * (the agent died mid-install, SQS redelivered it) may run again. Entries outlive any grant
 * (24 h at most) and every redelivery (SQS keeps a message 14 days), then go.
 */
const KEEP_MS = 15 * 24 * 3600_000;

const usedFile = z.strictObject({
  v: z.literal(1),
  used: z.record(z.string(), z.strictObject({ requestId: z.string(), at: z.string() })),
});

export interface UsedGrants {
  /** The request that first used this deployment's grant, if another one did. */
  usedByOther(deploymentId: string, requestId: string): string | undefined;
  use(deploymentId: string, requestId: string): Promise<void>;
}

export const openUsedGrants = async (path: string, now: () => number = Date.now): Promise<UsedGrants> => {
  let file: z.infer<typeof usedFile> = { v: 1, used: {} };
  const text = await readPrivateFile(path);
  if (text !== undefined) file = usedFile.parse(JSON.parse(text));
  return {
    usedByOther: (deploymentId, requestId) => {
      const entry = file.used[deploymentId];
      return entry && entry.requestId !== requestId ? entry.requestId : undefined;
    },
    async use(deploymentId, requestId) {
      const at = now();
      const kept = Object.entries(file.used).filter(([, entry]) => at - Date.parse(entry.at) < KEEP_MS);
      const next = { v: 1 as const, used: { ...Object.fromEntries(kept), [deploymentId]: { requestId, at: new Date(at).toISOString() } } };
      await writePrivateFile(path, `${JSON.stringify(next)}\n`);
      file = next;
    },
  };
};
