import { spawn } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it, onTestFinished } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');

/** Every file under `dir`, recursively (the target's whole state and install directories). */
const filesUnder = async (dir: string): Promise<string[]> =>
  (await readdir(dir, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));

describe('npm start: the demo', () => {
  it('runs non-interactively, through signed statements, intent and approval, to a Succeeded deployment with only the prod secret on the target', async () => {
    // Act: the demo on a stack of its own, the approver approving with his CLI (a signed approval).
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', '--port', '0', '--auto-approve', '--exit'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', AGENT_ONLINE_SECONDS: '10', AGENT_HEARTBEAT_SECONDS: '2' },
    });
    onTestFinished(() => void child.kill('SIGTERM'));
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));

    // Assess: it said each step, ended Succeeded, and the target holds the prod secret alone, 0600.
    expect(code, `${lines.join('\n')}\n${stderr}`).toBe(0);
    const demoLines = lines.filter((line) => line.startsWith('[demo'));
    expect(demoLines.some((line) => /is PendingApproval/.test(line))).toBe(true);
    expect(demoLines.some((line) => /approved it with his signing key/.test(line))).toBe(true);
    expect(demoLines.some((line) => /Demo done: deployment dep_[0-9a-f]{32} Succeeded/.test(line))).toBe(true);
    const dir = /people and agents are in (\S+);/.exec(demoLines.at(-1)!)![1]!;
    const outcome = JSON.parse(await readFile(path.join(dir, 'demo.json'), 'utf8')) as { installedSecret: string };
    expect(await readFile(outcome.installedSecret, 'utf8')).toContain('demo prod credential');
    expect((await stat(outcome.installedSecret)).mode & 0o777).toBe(0o600);
    // The target machine: its agent's state, its release tree and the install directory.
    const onTarget = (await Promise.all(['prod-server', 'prod-server.releases', 'prod-server.installed'].map((name) => filesUnder(path.join(dir, name))))).flat();
    const secrets = await Promise.all(onTarget.map(async (file) => ((await readFile(file, 'utf8').catch(() => '')).includes('credential, made by') ? file : undefined)));
    expect(secrets.filter(Boolean)).toEqual([outcome.installedSecret]);
  }, 180_000);
});
