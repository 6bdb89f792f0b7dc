import { describe, expect, it } from 'vitest';
import { startKeyServer, untilAgents } from '../../support/agents.ts';
import { directoryItem, masterCopiesFor, putDirectoryItem } from '../../support/backend-writes.ts';
import { waitFor } from '../../support/clients.ts';
import { requestsSent } from '../../support/deploy-agents.ts';
import { cliSession } from '../cli/run-cli.ts';

describe('an agent removal the backend hides', () => {
  it('is refused by the key servers that saw the owner’s removal: the removed key server, restored in the table with its earlier statement, gets no copy of the next master key', { timeout: 240_000 }, async () => {
    // Prepare: a, b and c hold master key v1. The backend keeps c's items as they are now.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    const [a, b, c] = [await startKeyServer(cli, 'a'), await startKeyServer(cli, 'b'), await startKeyServer(cli, 'c')];
    await untilAgents(cli, 'a, b and c to hold v1', (l) => ['a', 'b', 'c'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    const before = { agent: (await directoryItem(accountId, `AGENT#${c.agentId}`))!, statement: (await directoryItem(accountId, `STATEMENT#agent#${c.agentId}`))! };
    expect(before.agent.statement.statement).toMatchObject({ status: 'active', version: 1 });

    // Act 1: the owner removes c (say its machine was stolen): signed, and sent to a and b to pin.
    await c.process.kill();
    const removed = await cli.run(['agents', 'remove', 'c']);
    expect(removed.code, removed.stderr).toBe(0);
    await Promise.all([a, b].map((k) => k.process.answered('learn-statements', 'succeeded')));
    await untilAgents(cli, 'a and b to hold v2', (l) => ['a', 'b'].every((n) => l[n]?.online && l[n].masterVersions.includes(2)), 60_000);

    // Act 2: the backend hides the removal: c's agent item and its statement are put back as they
    // were (the owner's genuine version 1, active), so its plan has v2 shared with c.
    await putDirectoryItem(before.agent);
    await putDirectoryItem(before.statement);
    const asked = await waitFor(
      'a and b to be asked to share v2 with c, and to answer',
      async () => {
        const shares = (await requestsSent(accountId)).filter(
          (r) => r.type === 'share-master-key' && (r as { version?: number }).version === 2 && (r as { recipients?: string[] }).recipients?.includes(c.agentId),
        );
        const closed = shares.filter((r) => (r as { state?: string }).state !== 'pending');
        // Two refusals, or one key server that complied (the attack worked: the asserts below say so).
        return closed.length >= 2 || closed.some((r) => (r as { state?: string }).state === 'done') ? closed : undefined;
      },
      60_000,
    );

    // Assess: both refused c, naming the rollback; no copy of v2 was ever wrapped to c.
    for (const request of asked) {
      expect(request).toMatchObject({ state: 'failed', error: expect.stringMatching(/UntrustedPeer: .*version 1\) is older than version 2, already seen/) });
    }
    expect(new Set(asked.map((r) => r.agentId))).toEqual(new Set([a.agentId, b.agentId]));
    expect((await masterCopiesFor(accountId, c.agentId)).map((w) => w.version)).toEqual([1]);
  });
});
