import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const recordSchema = z.object({
  executionArn: z.string(),
  stateMachineArn: z.string(),
  name: z.string(),
  status: z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']),
  startDate: z.coerce.date(),
  stopDate: z.coerce.date().optional(),
  input: z.string(),
  output: z.string().optional(),
  error: z.string().optional(),
  cause: z.string().optional(),
  /** When each wait in progress times out (ms since the epoch), by state name. */
  waitDeadlines: z.record(z.string(), z.number()),
});

export type ExecutionRecord = z.infer<typeof recordSchema>;

export type ExecutionRecords = {
  load(): ExecutionRecord[];
  save(record: ExecutionRecord): void;
  /** Saves nothing more: what a stopping stack does to its executions must not outlive it. */
  detach(): void;
};

/**
 * Executions kept as one JSON file each under `dir`, or nowhere when `dir` is omitted.
 * Writes are synchronous and atomic (temp file, then rename): a record is on disk before the
 * request that changed it is answered, so even a killed process loses nothing it acknowledged.
 * Records are tiny and written a few times per execution.
 */
export const executionRecords = (dir?: string): ExecutionRecords => {
  if (!dir) return { load: () => [], save: () => undefined, detach: () => undefined };
  mkdirSync(dir, { recursive: true });
  let attached = true;
  // Execution names are caller-chosen strings; a hash of the ARN is always a safe file name.
  const fileOf = (executionArn: string) => path.join(dir, `${createHash('sha256').update(executionArn).digest('hex').slice(0, 32)}.json`);
  return {
    load: () =>
      readdirSync(dir)
        .filter((file) => file.endsWith('.json'))
        .map((file) => {
          const parsed = recordSchema.safeParse(JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
          if (!parsed.success) throw new Error(`${path.join(dir, file)} is not an execution record: ${parsed.error.message}`);
          return parsed.data;
        }),
    save: (record) => {
      if (!attached) return;
      const file = fileOf(record.executionArn);
      // JSON drops what is not data (the execution's abort function) and writes dates as ISO strings.
      writeFileSync(`${file}.tmp`, JSON.stringify(record));
      renameSync(`${file}.tmp`, file);
    },
    detach: () => {
      attached = false;
    },
  };
};
