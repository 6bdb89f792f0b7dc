/**
 * `npm run bench`: runs every benchmark module in turn and writes bench/REPORT.md. Each module
 * returns a Markdown section, kept as bench/reports/<name>.md; the report is assembled from the
 * kept sections, so `--only NAME` (or `--only=NAME`) re-runs one section and keeps the others.
 * `--assemble` only rebuilds the report. The local-stack section takes its reference tree from
 * LATCHKEY_BENCH_REFERENCE (a checkout with its own node_modules), or runs without one. The load test (`npm run load`) is a script of its own; its last section is appended if kept.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { apiLatencyBench } from './api-latency.ts';
import { cliStartupBench } from './cli-startup.ts';
import { coldStartBench } from './cold-start.ts';
import { costBench } from './cost-model.ts';
import { cryptoBench } from './crypto.ts';
import { deployLatencyBench } from './deploy-latency.ts';
import { keyServerFailoverBench } from './key-server-failover.ts';
import { localStackBenchModule } from './local-stack.ts';
import { transferBench } from './transfer.ts';
import { machineLine, publish, REPORTS_DIR } from './support/report.ts';

export interface Bench {
  name: string;
  run(): Promise<string>;
}

// In the order of the performance section.
const BENCHES: Bench[] = [cryptoBench, transferBench, deployLatencyBench, keyServerFailoverBench, apiLatencyBench, coldStartBench, cliStartupBench, localStackBenchModule, costBench];
const SEPARATE = ['load'];

const { values } = parseArgs({ options: { only: { type: 'string' }, assemble: { type: 'boolean', default: false } } });
if (values.only && !BENCHES.some((b) => b.name === values.only)) {
  console.error(`--only ${values.only}: no such bench (${BENCHES.map((b) => b.name).join(', ')})`);
  process.exit(2);
}

// --assemble runs nothing: it only rebuilds REPORT.md from the kept sections.
for (const bench of values.assemble ? [] : BENCHES.filter((b) => !values.only || b.name === values.only)) {
  console.log(`\n== ${bench.name} ==`);
  await publish(`${bench.name}.md`, await bench.run());
}

const kept = async (name: string) => readFile(path.join(REPORTS_DIR, `${name}.md`), 'utf8').then((text) => text.trim(), () => undefined);
const sections = (await Promise.all([...BENCHES.map((b) => b.name), ...SEPARATE].map(kept))).filter((s): s is string => !!s);
const report = [
  '# Benchmark report',
  '',
  `Assembled by \`npm run bench\` on ${new Date().toISOString()} from the sections in bench/reports/ (each section says when and under what load it was measured).`,
  `Machine: ${machineLine()}.`,
  '',
  sections.join('\n\n'),
  '',
].join('\n');
await writeFile(new URL('./REPORT.md', import.meta.url), report);
console.log('\nwrote bench/REPORT.md');
