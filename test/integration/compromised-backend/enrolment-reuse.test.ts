import { describe, expect, it } from 'vitest';
import { parseEnrolmentToken } from '#shared/protocol/trust.ts';
import { enrolAgentProcess, startKeyServer, untilAgents } from '../../support/agents.ts';
import { directoryItem, masterCopiesFor, updateDirectoryItem } from '../../support/backend-writes.ts';
import { waitFor } from '../../support/clients.ts';
import { requestsSent } from '../../support/deploy-agents.ts';
import { cliSession } from '../cli/run-cli.ts';

type AuditEvent = { action: string; outcome: string; reason?: string; target?: { id: string } };

describe('an enrolment token used again, by someone else', () => {
  it('enrols the attacker’s agent (the backend lets it through), but no key server shares the master key with it: the owner never confirmed its keys', { timeout: 180_000 }, async () => {
    // Prepare: k1 and k2 hold master key v1; k2 was enrolled with token T and confirmed by the owner.
    const cli = await cliSession();
    const { accountId } = await cli.signup();
    await startKeyServer(cli, 'k1');
    const k2 = await startKeyServer(cli, 'k2');
    await untilAgents(cli, 'k1 and k2 to hold v1', (l) => ['k1', 'k2'].every((n) => l[n]?.online && l[n].masterVersions.includes(1)));
    const { enrolmentId } = parseEnrolmentToken(k2.token)!;

    // Act 1: T leaked (it sat in a shell history). The backend makes its enrolment unused again,
    // and the attacker enrols an agent of its own with T, with the real agent binary.
    await updateDirectoryItem(accountId, `ENROLMENT#${enrolmentId}`, {}, ['usedAt', 'usedBy']);
    const mallory = await enrolAgentProcess({ endpoint: cli.endpoint, ownerKey: (await cli.json<{ ownerKey: { publicKey: string } }>(['keys', 'show'])).ownerKey.publicKey, token: k2.token, name: 'mallory' });

    // Assess 1: enrolled, with a genuine proof, and listed as not confirmed: it gets nothing.
    const listed = await untilAgents(cli, 'mallory to be listed', (l) => !!l.mallory);
    expect(listed.mallory).toMatchObject({ agentId: mallory.agentId, confirmed: 'no' });

    // Act 2: the backend makes mallory look confirmed, with the owner's genuine statement for k2,
    // so its plan asks the key servers to share v1 with mallory.
    const k2Statement = (await directoryItem(accountId, `AGENT#${k2.agentId}`))!.statement;
    await updateDirectoryItem(accountId, `AGENT#${mallory.agentId}`, { statement: k2Statement });
    const asked = await waitFor(
      'both key servers to be asked to share v1 with mallory, and to answer',
      async () => {
        const shares = (await requestsSent(accountId)).filter((r) => r.type === 'share-master-key' && (r as { recipients?: string[] }).recipients?.includes(mallory.agentId));
        const closed = shares.filter((r) => (r as { state?: string }).state !== 'pending');
        // Two refusals, or one key server that complied (the attack worked: the asserts below say so).
        return closed.length >= 2 || closed.some((r) => (r as { state?: string }).state === 'done') ? closed : undefined;
      },
      60_000,
    );

    // Assess 2: each refused (the statement is not about mallory); nothing was wrapped to it.
    expect(asked.map((r) => r as { state?: string; error?: string })).toEqual([
      expect.objectContaining({ state: 'failed', error: expect.stringMatching(/UntrustedPeer: .*is not about agt_/) }),
      expect.objectContaining({ state: 'failed', error: expect.stringMatching(/UntrustedPeer: .*is not about agt_/) }),
    ]);
    expect(await masterCopiesFor(accountId, mallory.agentId)).toEqual([]);
    const refusals = (await cli.json<AuditEvent[]>(['audit', 'list', '--limit', '1000'])).filter((e) => e.action === 'agents:share-master-key' && e.outcome === 'refused');
    expect(refusals.length).toBeGreaterThanOrEqual(2);
    expect((await cli.json<{ agentId: string; confirmed: string }[]>(['agents', 'list'])).find((a) => a.agentId === mallory.agentId)?.confirmed).toMatch(/^no: .*is not about/);
  });
});
