import { setTimeout as delay } from 'node:timers/promises';
import { isTerminal, timeline, type DeploymentView } from './deployment-view.ts';
import { CliError, ExitCode } from './errors.ts';
import type { Writer } from './output.ts';
import type { Person } from './resolve.ts';

export const POLL_INTERVAL_MS = 1_000;
/** Consecutive failed polls (unreachable, 5xx) tolerated before giving up with exit 3. */
export const MAX_POLL_FAILURES = 5;

export type WatchIo = {
  stdout: Writer;
  stderr: Writer;
  json: boolean;
  isTTY: boolean;
  columns?: number | undefined;
  sleep: (ms: number) => Promise<void>;
  onInterrupt: (handler: () => void) => () => void;
  now: () => Date;
};

export type WatchResult = { deployment: DeploymentView; interrupted: boolean };

const ESC = '\u001b[';
/** Rows a block takes on a terminal `columns` wide (a long line wraps). */
export const rowsOf = (block: string, columns: number | undefined) =>
  block
    .split('\n')
    .reduce((rows, line) => rows + (columns && columns > 0 ? Math.max(1, Math.ceil([...line].length / columns)) : 1), 0);

/** Moves the cursor back over `rows` rows and clears from there down. */
export const eraseRows = (rows: number) => (rows > 0 ? `${ESC}${rows}A\r${ESC}J` : '');

const clock = (date: Date) => date.toISOString().slice(11, 19);

/**
 * Follows a deployment until it reaches a terminal state, polling every `intervalMs`:
 * - on a terminal, redraws `render(deployment)` in place (ANSI cursor-up + clear-down), with a
 *   footer that says when it last looked;
 * - otherwise, prints each new event of the deployment's timeline as one line;
 * - with `--json`, prints the deployment as one JSON line each time it changes.
 * A poll that fails for a transient reason (unreachable, 5xx) is retried; anything else, or
 * MAX_POLL_FAILURES in a row, ends the watch with that error. Ctrl-C ends it at once.
 */
export const watchDeployment = async (
  poll: () => Promise<DeploymentView>,
  io: WatchIo,
  options: { render: (d: DeploymentView) => string; people?: ReadonlyMap<string, Person>; first: DeploymentView; intervalMs?: number },
): Promise<WatchResult> => {
  const interval = options.intervalMs ?? POLL_INTERVAL_MS;
  let stop: () => void = () => {};
  const interrupted = new Promise<'interrupted'>((resolve) => (stop = () => resolve('interrupted')));
  const unsubscribe = io.onInterrupt(() => stop());

  let current: DeploymentView = options.first;
  let drawnRows = 0;
  let lastJson = '';
  const printed = new Set<string>();
  let failures = 0;
  let failureNote = '';

  const show = (d: DeploymentView, final: boolean) => {
    if (io.json) {
      const line = JSON.stringify(d);
      if (line !== lastJson) io.stdout(`${line}\n`);
      lastJson = line;
    } else if (io.isTTY) {
      const footer = final ? '' : `\n\nWatching: last checked ${clock(io.now())}${failureNote}. Ctrl-C stops watching (not the deployment).`;
      const block = `${options.render(d)}${footer}\n`;
      io.stdout(eraseRows(drawnRows) + block);
      // The block ends with a newline, so the cursor sits on the row below it.
      drawnRows = rowsOf(block, io.columns) - 1;
    } else {
      for (const event of timeline(d, options.people)) {
        if (printed.has(event.key)) continue;
        printed.add(event.key);
        io.stdout(`${event.at.slice(0, 19).replace('T', ' ')}Z  ${event.text}\n`);
      }
    }
  };

  /** Ctrl-C: on a terminal, redraw once more without the "Watching" footer. */
  const stopped = (d: DeploymentView): WatchResult => {
    if (io.isTTY && !io.json) show(d, true);
    return { deployment: d, interrupted: true };
  };

  try {
    for (;;) {
      show(current, isTerminal(current.state));
      if (isTerminal(current.state)) return { deployment: current, interrupted: false };
      if ((await Promise.race([io.sleep(interval), interrupted])) === 'interrupted') return stopped(current);
      let next: DeploymentView | 'interrupted';
      try {
        next = await Promise.race([poll(), interrupted]);
      } catch (error) {
        const transient = error instanceof CliError && error.exitCode === ExitCode.unavailable;
        failures += 1;
        if (!transient || failures >= MAX_POLL_FAILURES) throw error;
        failureNote = ` (the last ${failures === 1 ? 'poll' : `${failures} polls`} failed: ${error.message}; retrying)`;
        if (!io.isTTY && !io.json) io.stderr(`Warning: ${error.message}; retrying (${failures}/${MAX_POLL_FAILURES - 1})\n`);
        continue;
      }
      if (next === 'interrupted') return stopped(current);
      failures = 0;
      failureNote = '';
      current = next;
    }
  } finally {
    unsubscribe();
  }
};

/** The default waits of a real terminal session. */
export const realSleep = (ms: number) => delay(ms);
