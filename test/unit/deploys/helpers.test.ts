import { lstat, mkdir, readdir, readlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { globToRegExp } from '#agent/target/glob.ts';
import { appLayout, keepIncluded, prepareLayout, pruneReleases, releaseDirName, switchCurrent } from '#agent/target/layout.ts';
import { OutputTail } from '#agent/target/scripts.ts';
import { summarizeReports, targetRequestId } from '#shared/domain/deploys/deploys.ts';
import { rollbackTarget } from '#cli/commands/rollback.ts';
import { newId, tempDir } from '../agent/fixtures.ts';

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

describe('the release directories of a target', () => {
  const install = async (n: number) => {
    const layout = appLayout(await tempDir(), newId('app'));
    await prepareLayout(layout);
    const names = [];
    for (let i = 0; i < n; i++) {
      const name = releaseDirName(1_700_000_000_000 + i, newId('dep'));
      await mkdir(path.join(layout.releases, name));
      await switchCurrent(layout, name);
      names.push(name);
    }
    return { layout, names };
  };

  it('`current` is a symlink to the newest, switched by rename; names sort by install time', async () => {
    const { layout, names } = await install(3);
    expect((await lstat(layout.current)).isSymbolicLink()).toBe(true);
    expect(await readlink(layout.current)).toBe(path.join('releases', names[2]!));
    expect([...names].sort()).toEqual(names);
  });

  it('keeps the newest N and the current one, removes the rest', async () => {
    const { layout, names } = await install(7);
    await switchCurrent(layout, names[0]!); // a rollback made the oldest current
    const removed = await pruneReleases(layout, 3);
    expect((await readdir(layout.releases)).sort()).toEqual([names[0], ...names.slice(4)].sort());
    expect(removed.sort()).toEqual(names.slice(1, 4).sort());
  });

  it('keeps only included files (and latchkey.yml)', async () => {
    const dir = await tempDir();
    for (const file of ['secret.cred.dev', 'README.txt', 'latchkey.yml', 'lib/a.js', 'lib/b.txt']) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await writeFile(path.join(dir, file), 'x');
    }
    await keepIncluded(dir, ['secret.cred.*', 'lib/*.js']);
    expect((await readdir(dir, { recursive: true })).sort()).toEqual(['latchkey.yml', 'lib', 'lib/a.js', 'secret.cred.dev']);
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
  it('a key server answers key requests; one whose enrolment names environments installs there too; a target only installs', async () => {
    const { handlersFor } = await import('#agent/handlers/index.ts');
    const stateDir = await tempDir();
    expect(Object.keys(handlersFor('keyserver', { stateDir, environments: [] })).sort()).toEqual(['create-master-key', 'issue-deployment-grant', 'rewrap-release-key', 'share-master-key']);
    expect(Object.keys(handlersFor('keyserver', { stateDir, environments: [newId('env')] }))).toContain('deploy-release');
    expect(Object.keys(handlersFor('target', { stateDir, environments: [newId('env')] }))).toEqual(['deploy-release']);
  });
});
