import { open, rename, stat } from 'node:fs/promises';

/** When the log passes this size it is renamed to `.1` (replacing the older one) and started again. */
export const MAX_SCRIPT_LOG_BYTES = 8 * 1024 * 1024;

/** The last `limit` characters written to it: a script's output is reported by its tail. */
export class OutputTail {
  private text = '';
  constructor(private readonly limit: number) {}
  write(chunk: string) {
    this.text = (this.text + chunk).slice(-this.limit);
  }
  toString() {
    return this.text;
  }
}

export type ScriptLog = {
  /** Writes to the local log, and to the tail a report may carry. */
  write(text: string): void;
  /** The last characters written during this deployment. */
  tail(): string;
  close(): Promise<void>;
};

/**
 * The local log of one deployment's release code (its scripts and the unpacking), appended to
 * `path` in the agent's state directory: mode 0600, the agent's, so only the agent (and root)
 * can read it. What release code prints stays on this machine unless the environment opts in to
 * reporting it (DESIGN §6); it may well print the secrets it installs.
 */
export const openScriptLog = async (path: string, tailLimit: number, header: string): Promise<ScriptLog> => {
  const size = await stat(path).then((info) => info.size, () => 0);
  if (size > MAX_SCRIPT_LOG_BYTES) await rename(path, `${path}.1`);
  const file = await open(path, 'a', 0o600);
  await file.chmod(0o600); // an existing file keeps its mode otherwise
  const tail = new OutputTail(tailLimit);
  let writing = file.appendFile(`=== ${new Date().toISOString()} ${header}\n`);
  return {
    write(text) {
      tail.write(text);
      writing = writing.then(() => file.appendFile(text));
    },
    tail: () => tail.toString(),
    async close() {
      await writing.finally(() => file.close());
    },
  };
};
