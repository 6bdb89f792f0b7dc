import { z } from 'zod';
import { pinKey, pinned, type Statement } from '#shared/protocol/statements.ts';
import { readPrivateFile, writePrivateFile } from './state.ts';

/**
 * The highest version of each owner statement this agent has seen (docs/trust.md): once it saw
 * the owner remove an agent or approver, or make an application secure, a backend that shows the
 * earlier statement is refused. Statements are seen as they come, inside requests, and kept in memory at once; the
 * request processor writes them to `statements.json` (0600) before the request is answered, so a
 * pin is never lost to a crash after it counted.
 */
const pinsFile = z.strictObject({ v: z.literal(1), pins: z.record(z.string(), z.number().int().min(1)) });

export interface StatementPins {
  /** The version pinned for a subject (`kind:subject`), if any. */
  pinned(key: string): number | undefined;
  /** Every pin, for checks that take them all at once (the evidence check). */
  all(): Readonly<Record<string, number>>;
  /** Pins the versions of statements already verified (in memory; `flush` writes them). */
  see(statements: readonly Statement[]): void;
  /** Keeps other numbers that only grow beside the pins: the passkey sign counters and assertions seen. */
  remember(marks: Readonly<Record<string, number>>): void;
  flush(): Promise<void>;
}

const grown = (pins: Record<string, number>, marks: Readonly<Record<string, number>>) => {
  const next = { ...pins };
  for (const [key, value] of Object.entries(marks)) next[key] = Math.max(next[key] ?? 0, value);
  return next;
};

/** Pins kept in memory only: for tests, and for code that has no state directory. */
export const memoryStatementPins = (): StatementPins => {
  let pins: Record<string, number> = {};
  return {
    pinned: (key) => pins[key],
    all: () => pins,
    see: (statements) => {
      pins = pinned(pins, statements);
    },
    remember: (marks) => {
      pins = grown(pins, marks);
    },
    flush: async () => {},
  };
};

export const openStatementPins = async (path: string): Promise<StatementPins> => {
  const text = await readPrivateFile(path);
  let pins: Record<string, number> = text === undefined ? {} : pinsFile.parse(JSON.parse(text)).pins;
  let dirty = false;
  return {
    pinned: (key) => pins[key],
    all: () => pins,
    see: (statements) => {
      const next = pinned(pins, statements);
      if (statements.some((s) => next[pinKey(s)] !== pins[pinKey(s)])) dirty = true;
      pins = next;
    },
    remember: (marks) => {
      const next = grown(pins, marks);
      if (Object.keys(marks).some((key) => next[key] !== pins[key])) dirty = true;
      pins = next;
    },
    flush: async () => {
      if (!dirty) return;
      // What is seen while this writes makes the pins dirty again, for the next flush.
      dirty = false;
      try {
        await writePrivateFile(path, `${JSON.stringify({ v: 1, pins }, null, 2)}\n`);
      } catch (error) {
        dirty = true;
        throw error;
      }
    },
  };
};
