import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { executionRecords, type ExecutionRecord } from '../../../local/step-functions/execution-records.ts';

const record = (name: string, overrides: Partial<ExecutionRecord> = {}): ExecutionRecord => ({
  executionArn: `arn:aws:states:us-east-1:000000000000:execution:latchkey-deployment:${name}`,
  stateMachineArn: 'arn:aws:states:us-east-1:000000000000:stateMachine:latchkey-deployment',
  name,
  status: 'RUNNING',
  startDate: new Date('2026-11-30T10:00:00.000Z'),
  input: '{"deploymentId":"dep_1"}',
  waitDeadlines: { AwaitApproval: Date.parse('2026-11-30T11:00:00.000Z') },
  ...overrides,
});

const dirs: string[] = [];
const tempDir = async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'latchkey-records-'));
  dirs.push(dir);
  return dir;
};
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('executionRecords', () => {
  it('keeps the last saved state of each execution, dates included, and nothing that is not data', async () => {
    const dir = await tempDir();
    const records = executionRecords(dir);
    records.save({ ...record('a'), abort: () => undefined } as ExecutionRecord);
    records.save(record('b'));
    records.save(record('a', { status: 'SUCCEEDED', stopDate: new Date('2026-11-30T10:05:00.000Z'), output: '{}', waitDeadlines: {} }));

    const loaded = executionRecords(dir).load().sort((x, y) => x.name.localeCompare(y.name));
    expect(loaded).toEqual([record('a', { status: 'SUCCEEDED', stopDate: new Date('2026-11-30T10:05:00.000Z'), output: '{}', waitDeadlines: {} }), record('b')]);
    expect(loaded[0]).not.toHaveProperty('abort');
    expect((await readdir(dir)).filter((file) => file.endsWith('.tmp'))).toEqual([]);
  });

  it('saves nothing once detached, so a stopping stack leaves its executions recorded as running', async () => {
    const dir = await tempDir();
    const records = executionRecords(dir);
    records.save(record('a'));
    records.detach();
    records.save(record('a', { status: 'ABORTED' }));
    expect(executionRecords(dir).load()).toEqual([record('a')]);
  });

  it('refuses a file that is not a record, naming it, rather than forgetting an execution', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'broken.json'), JSON.stringify({ name: 'x' }));
    expect(() => executionRecords(dir).load()).toThrow(/broken\.json is not an execution record/);
  });

  it('without a directory, keeps nothing', () => {
    const records = executionRecords();
    records.save(record('a'));
    expect(records.load()).toEqual([]);
  });
});
