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
  /** The demo on a stack of its own, non-interactive; `CHROMIUM_PATH` says whether a browser is at hand. */
  const runDemo = async (chromiumPath: string | undefined) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/main.ts', '--port', '0', '--auto-approve', '--exit'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'ERROR', AGENT_ONLINE_SECONDS: '10', AGENT_HEARTBEAT_SECONDS: '2', ...(chromiumPath ? { CHROMIUM_PATH: chromiumPath } : {}) },
    });
    onTestFinished(() => void child.kill('SIGTERM'));
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    return { code, lines, stderr, demoLines: lines.filter((line) => line.startsWith('[demo')) };
  };

  it('runs non-interactively, through signed statements, intent and approval, to a Succeeded deployment with only the prod secret on the target: with a browser at hand the approver registers a passkey and approves from the email; without one, with his CLI', async () => {
    // Act: the demo twice, side by side: Debian's chromium at hand, and none.
    const [withBrowser, withoutBrowser] = await Promise.all([runDemo(undefined), runDemo('/nonexistent/chromium')]);

    // Assess: each said each step and ended Succeeded; the approval was the passkey's, or the CLI's.
    for (const run of [withBrowser, withoutBrowser]) {
      expect(run.code, `${run.lines.join('\n')}\n${run.stderr}`).toBe(0);
      expect(run.demoLines.some((line) => /is PendingApproval/.test(line))).toBe(true);
      expect(run.demoLines.some((line) => /Demo done: deployment dep_[0-9a-f]{32} Succeeded/.test(line))).toBe(true);
    }
    for (const step of [/registered a passkey in his browser .* fingerprint to Ada by phone: ([0-9a-f]{4} ){15}[0-9a-f]{4}/, /Ada vouched for exactly that passkey/, /clicked Approve and Deploy; his passkey signed/]) {
      expect(withBrowser.demoLines.some((line) => step.test(line)), String(step)).toBe(true);
    }
    expect(withoutBrowser.demoLines.some((line) => /No browser at hand/.test(line))).toBe(true);
    expect(withoutBrowser.demoLines.some((line) => /approved it with his signing key/.test(line))).toBe(true);

    // The target machine: its agent's state, its release tree and the install directory hold the
    // prod secret alone, 0600.
    for (const run of [withBrowser, withoutBrowser]) {
      const dir = /people and agents are in (\S+);/.exec(run.demoLines.at(-1)!)![1]!;
      const outcome = JSON.parse(await readFile(path.join(dir, 'demo.json'), 'utf8')) as { installedSecret: string };
      expect(await readFile(outcome.installedSecret, 'utf8')).toContain('demo prod credential');
      expect((await stat(outcome.installedSecret)).mode & 0o777).toBe(0o600);
      const onTarget = (await Promise.all(['prod-server', 'prod-server.releases', 'prod-server.installed'].map((name) => filesUnder(path.join(dir, name))))).flat();
      const secrets = await Promise.all(onTarget.map(async (file) => ((await readFile(file, 'utf8').catch(() => '')).includes('credential, made by') ? file : undefined)));
      expect(secrets.filter(Boolean)).toEqual([outcome.installedSecret]);
    }
  }, 300_000);
});
