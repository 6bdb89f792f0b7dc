import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runAgent } from '#agent/program.ts';

const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Runs latchkey-agent with these arguments, collecting what it prints. */
const agent = async (argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runAgent(argv, {
    stdout: (text) => void out.push(text),
    stderr: (text) => void err.push(text),
    env: {},
    fetch: () => Promise.reject(new Error('no network in a help test')),
    signal: new AbortController().signal,
  });
  return { code, stdout: out.join(''), stderr: err.join('') };
};

describe('latchkey-agent help', () => {
  it('prints the package version', async () => {
    expect(await agent(['--version'])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it.each(['init', 'enrol', 'show', 'run'])('has examples for %s that run it as the agent user, never as root', async (name) => {
    const { code, stdout } = await agent([name, '--help']);
    expect(code).toBe(0);
    const examples = stdout.split('\nExamples:\n')[1]!.trimEnd().split('\n').map((line) => line.trim());
    expect(examples.length).toBeGreaterThan(0);
    for (const line of examples.filter((l) => l.includes(`latchkey-agent ${name}`) && !l.startsWith('$ systemctl'))) {
      expect(line).toMatch(/^\$ setpriv --reuid=latchkey --regid=latchkey --init-groups /);
    }
    // The token is never on a command line: no example passes it as an argument.
    expect(stdout).not.toMatch(/lke_|--token/);
  });

  it('explains, at the top level, how a server joins', async () => {
    const { stdout } = await agent(['--help']);
    expect(stdout).toContain('latchkey enrolments create');
    expect(stdout).toContain('Examples:');
  });
});
