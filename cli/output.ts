export type Cell = string | number | boolean | null | undefined;
export type Column<T> = { header: string; value: (row: T) => Cell };

// Names come from other people's input; a stray escape sequence must not repaint the terminal.
const unprintable = /[\p{Cc}\p{Cf}]/gu;
export const printable = (value: Cell): string => {
  if (value === null || value === undefined || value === '') return '-';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value).replace(unprintable, '?');
};

/** `2026-11-23T08:55:51.402Z` → `2026-11-23 08:55Z`: minutes are enough to read a table. */
export const formatTime = (iso: string | undefined): string => {
  if (!iso) return '-';
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(iso);
  return match ? `${match[1]} ${match[2]}Z` : iso;
};

/**
 * Aligned columns separated by two spaces, headers in capitals, no trailing blanks (so the output
 * diffs and greps cleanly). Widths count code points, which is right for the names we print.
 */
export const formatTable = <T>(rows: readonly T[], columns: readonly Column<T>[]): string => {
  const cells = [columns.map((column) => column.header.toUpperCase()), ...rows.map((row) => columns.map((column) => printable(column.value(row))))];
  const widths = columns.map((_column, i) => Math.max(...cells.map((line) => [...line[i]!].length)));
  return cells
    .map((line) =>
      line
        .map((cell, i) => (i === line.length - 1 ? cell : cell + ' '.repeat(widths[i]! - [...cell].length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
};

/** `key  value` lines for one record. */
export const formatRecord = (pairs: readonly (readonly [string, Cell])[]): string => {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${printable(value)}`).join('\n');
};

export type Writer = (text: string) => void;

/**
 * Where results go. Results go to stdout (a table, or JSON with `--json`); notes and warnings go
 * to stderr, so `latchkey … --json | jq` sees only JSON.
 */
export class Output {
  constructor(
    private readonly stdout: Writer,
    private readonly stderr: Writer,
    readonly json: boolean,
  ) {}

  /** The one result of a command: `value` as JSON, or `human()` as text. */
  result(value: unknown, human: () => string): void {
    this.stdout(this.json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
  }

  list<T>(items: readonly T[], columns: readonly Column<T>[], { empty, more }: { empty: string; more?: string | undefined }): void {
    this.result(items, () => (items.length ? formatTable(items, columns) : empty));
    if (more) this.note(more);
  }

  note(text: string): void {
    this.stderr(`${text}\n`);
  }
}
