import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The benchmark contract of bench/run.ts: a name and a run that returns a Markdown section. */
export type BenchModule = { name: string; run: () => Promise<string> };

export const REPORTS_DIR = path.resolve(import.meta.dirname, '../reports');

/** The machine and how busy it is: every table is printed with it (the machine may be shared). */
export const machineLine = (): string =>
  `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, Node ${process.version}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`;

/** A Markdown table, first column left-aligned and the others right-aligned (numbers). */
export const table = (header: readonly string[], rows: readonly (readonly (string | number)[])[]): string =>
  [`| ${header.join(' | ')} |`, `|---|${header.slice(1).map(() => '---:').join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)].join('\n');

export const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(value < 10 ? 1 : 0) : '–');

/** Writes bench/reports/<file> and prints the section, for a script run on its own. */
export const publish = async (file: string, section: string): Promise<void> => {
  await mkdir(REPORTS_DIR, { recursive: true });
  await writeFile(path.join(REPORTS_DIR, file), `${section}\n`);
  process.stdout.write(`${section}\n\nwrote bench/reports/${file}\n`);
};

/** True when the module is the script node was started with (so importing it runs nothing). */
export const isMain = (moduleUrl: string): boolean => process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(moduleUrl);
