import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { pinned, type Statement, type StatementPins } from '#shared/protocol/statements.ts';
import { writePrivateFile } from './config.ts';
import { UsageError } from './errors.ts';

/**
 * The highest version of each owner statement this CLI has seen, per account (docs/trust.md): a
 * backend that later shows an older one — a person before they were disabled, an agent before it
 * was removed — is refused. One file per account beside the config file, 0600: whoever can lower
 * a pin can make this CLI accept a rolled-back decision, so the file is refused if others can
 * write or read it, like a key file.
 */

const pinsFile = z.strictObject({
  v: z.literal(1),
  accountId: z.string(),
  pins: z.record(z.string().regex(/^(person|environment|application|agent):[A-Za-z0-9_]+$/), z.number().int().min(1)),
});

export const statementPinsPath = (configPath: string, accountId: string) => path.join(path.dirname(configPath), `statement-pins.${accountId}.json`);

/** The pins kept for the account; empty when none were kept yet. */
export const readStatementPins = async (configPath: string, accountId: string): Promise<StatementPins> => {
  const file = statementPinsPath(configPath, accountId);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new UsageError(`Cannot read the statement pins ${file}: ${(error as Error).message}`);
  }
  if (process.platform !== 'win32' && ((await stat(file)).mode & 0o077) !== 0) {
    throw new UsageError(`The statement pins ${file} can be read or changed by other users`, { hint: `Run: chmod 600 ${file}` });
  }
  const parsed = pinsFile.safeParse((() => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  })());
  if (!parsed.success || parsed.data.accountId !== accountId) throw new UsageError(`The statement pins ${file} are not valid`, { hint: 'Restore the file from a backup; deleting it forgets what this CLI has seen.' });
  return parsed.data.pins;
};

/**
 * Pins `statements` (each already verified) on top of what the file holds now, never lowering a
 * pin, and writes the file atomically, 0600 from its first byte. Answers the pins as written.
 */
export const pinStatements = async (configPath: string, accountId: string, statements: readonly Statement[]): Promise<StatementPins> => {
  const file = statementPinsPath(configPath, accountId);
  const next = pinned(await readStatementPins(configPath, accountId), statements);
  await writePrivateFile(file, `${JSON.stringify({ v: 1, accountId, pins: next }, null, 2)}\n`);
  return next;
};
