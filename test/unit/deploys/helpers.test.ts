import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globToRegExp } from '#agent/target/glob.ts';
import { entryPath, excludedPaths } from '#agent/target/archive.ts';
import { releaseDirName } from '#agent/target/release-tree.ts';
import { OutputTail } from '#agent/target/script-log.ts';
import { summarizeReports, targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { rollbackTarget } from '#cli/commands/rollback.ts';
import { newId } from '../agent/fixtures.ts';

describe('include globs', () => {
  it.each([
    ['secret.cred.*', 'secret.cred.dev', true],
    ['secret.cred.*', 'sub/secret.cred.dev', false],
    ['**/*.js', 'a/b/c.js', true],
    ['**/*.js', 'c.js', true],
    ['lib/**', 'lib/x/y', true],
    ['?.txt', 'a.txt', true],
    ['?.txt', 'ab.txt', false],
    ['a+b(c).txt', 'a+b(c).txt', true],
  ])('%s matches %s: %s', (pattern, file, expected) => {
    expect(globToRegExp(pattern).test(file)).toBe(expected);
  });

  it('a pattern without wildcards matches exactly itself (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9._+()[\]{}^$|\\/-]{1,30}$/), fc.string({ maxLength: 30 }), (name, other) => {
        expect(globToRegExp(name).test(name)).toBe(true);
        if (other !== name) expect(globToRegExp(name).test(other)).toBe(false);
      }),
    );
  });
});

describe('what of a release archive stays', () => {
  const entries = (paths: string[]) => paths.map((path) => ({ path, type: path.endsWith('/') ? 'Directory' : 'File' })).map((e) => ({ ...e, path: e.path.replace(/\/$/, '') }));

  it('member names as tar writes them: no leading `/` or `./`, no trailing `/`', () => {
    expect(['./latchkey.yml', '/etc/x', './lib/', 'a//b', './'].map(entryPath)).toEqual(['latchkey.yml', 'etc/x', 'lib', 'a/b', '']);
  });

  it('deletes what no include pattern matches (latchkey.yml stays), and directories holding nothing kept', () => {
    const archive = entries(['README.txt', 'latchkey.yml', 'secret.cred.dev', 'lib/', 'lib/a.js', 'lib/b.txt', 'docs/', 'docs/x/', 'docs/x/y.md']);
    expect(excludedPaths(archive, ['secret.cred.*', 'lib/*.js']).sort()).toEqual(['README.txt', 'docs', 'lib/b.txt']);
    expect(excludedPaths(archive, ['**'])).toEqual([]);
  });

  it('never deletes a kept path or one of its directories, and names each deleted subtree once (property)', () => {
    const name = fc.stringMatching(/^[a-c]{1,2}$/);
    fc.assert(
      fc.property(fc.uniqueArray(fc.array(name, { minLength: 1, maxLength: 3 }).map((parts) => parts.join('/'))), fc.array(fc.constantFrom('a*', '**/b', 'c/*', '?'), { maxLength: 3 }), (paths, include) => {
        const removed = excludedPaths(entries(paths), include);
        const patterns = include.map(globToRegExp);
        for (const path of paths.filter((p) => patterns.some((r) => r.test(p)))) {
          for (const gone of removed) expect(path === gone || path.startsWith(`${gone}/`)).toBe(false);
        }
        for (const gone of removed) expect(removed.some((other) => gone.startsWith(`${other}/`))).toBe(false);
      }),
    );
  });

  it('release directory names sort by install time', () => {
    const names = [1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000].map((at) => releaseDirName(at, newId('dep')));
    expect([...names].sort()).toEqual(names);
  });
});

describe('pure helpers', () => {
  it('the output tail keeps the last characters written (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), fc.integer({ min: 1, max: 50 }), (chunks, limit) => {
        const tail = new OutputTail(limit);
        chunks.forEach((c) => tail.write(c));
        expect(tail.toString()).toBe(chunks.join('').slice(-limit));
      }),
    );
  });

  it('one request id per deployment and target, stable and distinct', () => {
    const [dep, a, b] = [newId('dep'), newId('agt'), newId('agt')];
    expect(targetRequestId(dep, a)).toMatch(/^req_[0-9a-f]{32}$/);
    expect(targetRequestId(dep, a)).toBe(targetRequestId(dep, a));
    expect(targetRequestId(dep, a)).not.toBe(targetRequestId(dep, b));
  });

  it('summarizes reports: Succeeded only when every target succeeded; else names each failure and silence', () => {
    const ok = { outcome: 'succeeded' as const, at: 'now', current: 'r', output: '' };
    expect(summarizeReports(['a', 'b'], { a: ok, b: ok }, {}, 60)).toEqual({ succeeded: true, reason: 'Installed on 2 targets' });
    expect(summarizeReports([], {}, {}, 60)).toEqual({ succeeded: false, reason: 'No target received the deployment' });
    const failed = summarizeReports(['a', 'b', 'c'], { a: ok, b: { outcome: 'failed', at: 'now', code: 'ScriptFailed', message: 'install exited with 1' } }, { b: 'web-2 (b)' }, 60);
    expect(failed).toEqual({ succeeded: false, reason: 'Failed on 2 of 3 targets. web-2 (b): ScriptFailed: install exited with 1 | c: did not report within 60 s' });
  });

  describe('rollback', () => {
    const d = (state: 'Succeeded' | 'Failed', appId: string, releaseId: string) => ({ deploymentId: newId('dep'), appId, appName: appId, releaseId, releaseVersion: releaseId, state });

    it('goes back to the newest successful release before the live one, skipping failures and redeploys of the live one', () => {
      const history = [d('Failed', 'web', 'r4'), d('Succeeded', 'web', 'r3'), d('Succeeded', 'web', 'r3'), d('Succeeded', 'api', 'x1'), d('Succeeded', 'web', 'r2'), d('Succeeded', 'web', 'r1')];
      expect(rollbackTarget(history, 'prod').previous.releaseId).toBe('r2');
      expect(() => rollbackTarget(history, 'prod', 'api')).toThrow(/api x1 is the only release/);
    });

    it('refuses when there is nothing to go back to', () => {
      expect(() => rollbackTarget([d('Failed', 'web', 'r2')], 'prod')).toThrow(/nothing to roll back/);
      expect(() => rollbackTarget([d('Succeeded', 'web', 'r1'), d('Succeeded', 'web', 'r1')], 'prod')).toThrow(/no earlier one/);
    });
  });
});

describe('roles from the enrolment', () => {
  it('a key server answers key requests; one whose enrolment names environments installs there too; a target only installs; every agent learns statements', async () => {
    const { handlersFor } = await import('#agent/handlers/index.ts');
    // What run.ts hands over once release isolation is in place (checked there, not here).
    const installs = (environments: string[]) => ({ stateDir: '/nonexistent', environments, isolation: { user: { name: 'r', uid: 1, gid: 1, home: '/' }, releasesDir: '/r', setpriv: '/usr/bin/setpriv' }, releasesOrigin: async () => undefined });
    expect(Object.keys(handlersFor('keyserver', '/nonexistent')).sort()).toEqual(['create-master-key', 'issue-deployment-grant', 'learn-statements', 'rewrap-release-key', 'share-master-key']);
    expect(Object.keys(handlersFor('keyserver', '/nonexistent', installs([newId('env')])))).toContain('deploy-release');
    expect(Object.keys(handlersFor('target', '/nonexistent', installs([newId('env')])))).toEqual(['deploy-release', 'learn-statements']);
  });
});
