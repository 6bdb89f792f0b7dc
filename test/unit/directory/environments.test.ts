import { describe, expect, it } from 'vitest';
import type { Act } from '#shared/domain/access/act.ts';
import type { Actor } from '#shared/domain/access/actor.ts';
import { makeEnvironments } from '#shared/domain/directory/environments.ts';
import type { DirectoryStore } from '#shared/ports/directory-store.ts';
import { randomIds } from '#shared/ports/ids.ts';
import { inMemoryDirectory } from '../../support/in-memory-directory.ts';

const accountId = `acc_${'1'.repeat(32)}`;
const owner: Actor = { accountId, userId: `usr_${'2'.repeat(32)}`, role: 'owner', tokenId: `tok_${'3'.repeat(32)}`, tokenSecretHash: 'h' };
const iso = '2026-12-01T00:00:00.000Z';

/** The environment use cases over an in-memory directory, with no policy or audit. */
const world = () => {
  const directory = inMemoryDirectory();
  const act = (async (_actor: Actor, _action: string, _options: unknown, run: () => Promise<unknown>) => run()) as Act;
  const environments = makeEnvironments({ directory: directory.store as unknown as DirectoryStore, act, clock: { now: () => new Date(iso) }, ids: randomIds });
  return { directory, environments };
};

describe('environments: signed approvals by default', () => {
  it('a new environment requires signed approvals unless the owner opts out', async () => {
    // Prepare
    const { environments } = world();

    // Act
    const plain = await environments.create(owner, { name: 'production' });
    const withPolicy = await environments.create(owner, { name: 'staging', approval: { enabled: true, requiredApprovals: 1 } });
    const optedOut = await environments.create(owner, { name: 'dev', approval: { enabled: true, signed: false } });

    // Assess
    expect(plain.approval.signed).toBe(true);
    expect(withPolicy.approval).toMatchObject({ enabled: true, signed: true });
    expect(optedOut.approval).toMatchObject({ enabled: true, signed: false });
  });

  it('an environment stored before the default, without the field, stays unsigned, and says so, until the owner changes it', async () => {
    // Prepare: an item as stored when unsigned was the default (no `signed` at all).
    const { directory, environments } = world();
    const environmentId = randomIds.next('env');
    await directory.store.putEnvironment({
      accountId,
      environmentId,
      name: 'legacy',
      approval: { enabled: true, approverGroups: [], requiredApprovals: 1, preventSelfApproval: true, windowHours: 72 },
      variables: {},
      createdAt: iso,
      updatedAt: iso,
      version: 1,
    });

    // Act
    const other = await environments.update(owner, environmentId, { approval: { windowHours: 24 } });
    const signed = await environments.update(owner, environmentId, { approval: { signed: true } });

    // Assess
    expect(other.approval).toMatchObject({ windowHours: 24, signed: false });
    expect(directory.environments.get(`${accountId}/${environmentId}`)!.approval.signed).toBe(true);
    expect(signed.approval.signed).toBe(true);
  });
});
