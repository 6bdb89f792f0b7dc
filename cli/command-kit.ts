import { InvalidArgumentError, type Command } from 'commander';
import { UsageError } from './errors.ts';

/** Commander parser for a bounded integer option; a bad value is a usage error (exit 2). */
export const integer =
  (min: number, max: number) =>
  (value: string): number => {
    const number = Number(value);
    if (!/^\d+$/.test(value.trim()) || !Number.isInteger(number) || number < min || number > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return number;
  };

/** For options given several times: `--var A=1 --var B=2`. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `a,b, c` → ['a', 'b', 'c']; an empty string is an empty list (to clear one). */
export const commaList = (value: string): string[] =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);

export const onOff = (value: string): boolean => {
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new InvalidArgumentError('must be on or off');
};

/** `KEY=VALUE` (the value may itself contain `=`). */
export const parseAssignment = (text: string): [string, string] => {
  const at = text.indexOf('=');
  if (at <= 0) throw new UsageError(`--var takes KEY=VALUE, not ${JSON.stringify(text)}`, { field: 'variables' });
  return [text.slice(0, at), text.slice(at + 1)];
};

export type ListOptions = { limit?: number; all?: boolean };

/** `--limit` and `--all` on every list command; `defaultLimit` undefined means "all by default". */
export const listOptions = (command: Command, defaultLimit?: number): Command =>
  command
    .option('--limit <n>', defaultLimit ? `show at most N (default ${defaultLimit})` : 'show at most N', integer(1, 1_000_000))
    .option('--all', defaultLimit ? 'follow every page' : 'follow every page (the default)');

export const limitFrom = (options: ListOptions, defaultLimit?: number): number | undefined => {
  if (options.all && options.limit !== undefined) throw new UsageError('Give --limit or --all, not both');
  return options.all ? undefined : (options.limit ?? defaultLimit);
};

export const moreNote = (more: boolean, shown: number) =>
  more ? `Showing the first ${shown}; there are more (use --all, or a larger --limit).` : undefined;

/** Per-command help text: examples are the fastest way to learn a CLI. */
export const examples = (command: Command, lines: string[]): Command =>
  command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}\n`);
