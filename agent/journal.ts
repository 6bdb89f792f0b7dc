import { open, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { isoTime } from '#shared/protocol/common.ts';
import { requestId } from '#shared/protocol/agent-messages.ts';
import type { Logger } from './log.ts';
import { readPrivateFile, writePrivateFile } from './state.ts';

/**
 * Requests already answered, by request id. SQS delivers at least once, so a request can come
 * back after it was answered (the delete was lost, or the agent died between reply and delete).
 * Answering from the journal makes every handler idempotent, and for create-master-key it is the
 * only way to be: the master key itself is never stored, so a second run would mint a different
 * one. Entries hold only what the reply holds (wrapped keys, never plaintext), so the file is no
 * more secret than the reply queue; it is still 0600.
 *
 * Format: one JSON entry per line, appended and fsynced before the reply is sent.
 */
export const journalEntry = z.strictObject({
  requestId,
  type: z.string(),
  /** SHA-256 of the request without its delivery details: a reused id with other content is refused. */
  digest: z.string(),
  at: isoTime,
  /** For create-master-key: which version this agent minted. */
  version: z.number().int().optional(),
  outcome: z.enum(['succeeded', 'failed']),
  result: z.record(z.string(), z.unknown()).optional(),
  error: z.strictObject({ code: z.string(), message: z.string() }).optional(),
});
export type JournalEntry = z.infer<typeof journalEntry>;

/**
 * SQS keeps a message at most 14 days, so after that no redelivery can come. Master key
 * creations are kept for good (they are few) so that a version is never minted twice.
 */
const KEEP_MS = 15 * 24 * 3600_000;
const keptForever = (entry: JournalEntry) => entry.type === 'create-master-key' && entry.outcome === 'succeeded';

export interface Journal {
  get(requestId: string): JournalEntry | undefined;
  /** The create-master-key entry that minted `version`, if this agent minted it. */
  mintedVersion(version: number): JournalEntry | undefined;
  record(entry: JournalEntry): Promise<void>;
  close(): Promise<void>;
}

export const openJournal = async (path: string, deps: { log: Logger; now?: () => number }): Promise<Journal> => {
  const now = deps.now ?? Date.now;
  const entries = new Map<string, JournalEntry>();
  let rewrite = false;

  const text = await readPrivateFile(path);
  if (text !== undefined) {
    const lines = text.split('\n').filter((line) => line.length > 0);
    lines.forEach((line, index) => {
      let parsed: ReturnType<typeof journalEntry.safeParse> | undefined;
      try {
        parsed = journalEntry.safeParse(JSON.parse(line));
      } catch {
        parsed = undefined;
      }
      if (!parsed?.success) {
        // A crash mid-append leaves a partial last line; that request was not answered yet.
        deps.log.warn('journal line skipped', { line: index + 1 });
        rewrite = true;
        return;
      }
      const entry = parsed.data;
      if (!keptForever(entry) && now() - Date.parse(entry.at) > KEEP_MS) {
        rewrite = true;
        return;
      }
      entries.set(entry.requestId, entry);
    });
    if (rewrite) await writePrivateFile(path, [...entries.values()].map((e) => `${JSON.stringify(e)}\n`).join(''));
  }

  const fh: FileHandle = await open(path, 'a', 0o600);
  await fh.chmod(0o600);

  return {
    get: (id) => entries.get(id),
    mintedVersion: (version) => [...entries.values()].find((e) => keptForever(e) && e.version === version),
    async record(entry) {
      const checked = journalEntry.parse(entry);
      await fh.write(`${JSON.stringify(checked)}\n`);
      await fh.datasync(); // on disk before the reply leaves: a redelivery must find it
      entries.set(checked.requestId, checked);
    },
    close: () => fh.close(),
  };
};
