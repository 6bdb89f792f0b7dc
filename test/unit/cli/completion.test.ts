import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeApi, runCli } from './fake-api.ts';

/** What bash's completion offers for a command line typed so far (the last word being completed). */
const complete = (script: string, words: string[]) => {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'latchkey-completion-')), 'latchkey.bash');
  writeFileSync(file, script);
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = execFileSync('bash', ['-c', `source '${file}'; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _latchkey_completion; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean).sort();
};

describe('latchkey completion', () => {
  it('bash: offers the commands, subcommands and options the CLI has, after options and their values', async () => {
    // Prepare
    const { stdout, code } = await runCli(['completion', 'bash'], fakeApi({}));
    expect(code).toBe(0);

    // Act + Assess
    expect(complete(stdout, ['latchkey', 'en'])).toEqual(['enrolments', 'envs']);
    expect(complete(stdout, ['latchkey', 'enrolments', ''])).toEqual(['--help', 'create']);
    expect(complete(stdout, ['latchkey', 'envs', 'create', 'prod', '--approval', '--re'])).toEqual(['--required']);
    expect(complete(stdout, ['latchkey', 'status', '--env', 'prod', '--w'])).toEqual(['--watch']);
    expect(complete(stdout, ['latchkey', 'nonsense', ''])).toContain('deploy');
  });

  it('zsh: the same function through bashcompinit', async () => {
    const { stdout, code } = await runCli(['completion', 'zsh'], fakeApi({}));
    expect(code).toBe(0);
    expect(stdout).toContain('bashcompinit');
    expect(stdout).toContain('complete -o default -F _latchkey_completion latchkey');
  });

  it('refuses another shell with a usage error', async () => {
    const result = await runCli(['completion', 'fish'], fakeApi({}));
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('choose bash or zsh');
  });
});
