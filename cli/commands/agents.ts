import type { Command } from 'commander';
import { verifyStatement } from '#shared/protocol/statements.ts';
import { agentFingerprint, fromB64, normaliseFingerprint, verifyAgentProof } from '#shared/protocol/trust.ts';
import type { ApiClient, ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { RefusedError, UsageError } from '../errors.ts';
import { loadOwnerSigningKey, pinnedOwnerKey } from '../keys.ts';
import { masterKeyNotes } from '../master-key-notes.ts';
import { formatTime, type Column } from '../output.ts';
import { signAndRecord } from '../statements.ts';

export type AgentView = ItemOf<'GET /agents'>;

/**
 * Whether an agent's proof holds under the owner key on this machine: `yes`, `no: why`, or
 * undefined when there is no owner key here to check with. The top-level keys the API lists must
 * be the ones the proof binds, or the API could show one key and hand out another.
 */
export const proofStatus = (agent: AgentView, ownerPublicKey: Uint8Array | undefined, accountId: string): string | undefined => {
  if (!ownerPublicKey) return undefined;
  try {
    const proven = verifyAgentProof(ownerPublicKey, agent.proof, { accountId });
    if (proven.agentId !== agent.agentId || proven.role !== agent.role) return 'no: its id or role differs from its proof';
    if (agent.proof.binding.encryptionKey !== agent.encryptionKey || agent.proof.binding.signingKey !== agent.signingKey) {
      return 'no: its keys differ from its proof';
    }
    return 'yes';
  } catch (error) {
    return `no: ${(error as Error).message.replace(/^Agent \S+ is not trusted: /, '')}`;
  }
};

/**
 * Whether the owner confirmed the agent (its agent statement): `yes (vN)`, `no` (it gets no keys
 * until confirmed), `removed`, or `no: why` for a statement that is not the owner's or names
 * other keys. Undefined when there is no owner key here to check with.
 */
export const confirmedStatus = (agent: AgentView, ownerPublicKey: Uint8Array | undefined, accountId: string): string | undefined => {
  if (!ownerPublicKey) return undefined;
  if (!agent.statement) return 'no';
  try {
    const s = verifyStatement(ownerPublicKey, agent.statement, { kind: 'agent', accountId, subject: agent.agentId });
    if (s.encryptionKey !== agent.proof.binding.encryptionKey || s.signingKey !== agent.proof.binding.signingKey || s.role !== agent.proof.binding.role) return 'no: it names other keys';
    return s.status === 'active' ? `yes (v${s.version})` : s.status;
  } catch (error) {
    return `no: ${(error as Error).message}`;
  }
};

const agentColumns = (verified: (agent: AgentView) => string | undefined, confirmed: (agent: AgentView) => string | undefined): Column<AgentView>[] => [
  { header: 'id', value: (a) => a.agentId },
  { header: 'name', value: (a) => a.name },
  { header: 'role', value: (a) => a.role },
  { header: 'online', value: (a) => a.online },
  { header: 'last seen', value: (a) => formatTime(a.lastSeenAt) },
  { header: 'master keys', value: (a) => (a.role === 'keyserver' ? a.masterVersions.map((v) => `v${v}`).join(',') : undefined) },
  { header: 'verified', value: (a) => verified(a) ?? '?' },
  { header: 'confirmed', value: (a) => confirmed(a) ?? '?' },
];

/** An agent by id or name, from the API's list. */
const findAgent = async (client: ApiClient, ref: string): Promise<AgentView> => {
  const { items } = await client.list('GET /agents');
  const byId = items.find((a) => a.agentId === ref);
  if (byId) return byId;
  const matches = items.filter((a) => a.name?.toLowerCase() === ref.trim().toLowerCase());
  if (matches.length !== 1) {
    throw new RefusedError(matches.length ? `${JSON.stringify(ref)} names ${matches.length} agents: use an id` : `No agent is ${JSON.stringify(ref)}`, {
      hint: 'List them with `latchkey agents list`.',
    });
  }
  return matches[0]!;
};

const label = (agent: AgentView) => (agent.name ? `${agent.name} (${agent.agentId})` : agent.agentId);

export const registerAgents = (program: Command, ctx: Context) => {
  const agents = program.command('agents').description('Enrolled agents (key servers and targets), whether the owner key vouches for them, and whether the owner confirmed their keys');

  examples(
    listOptions(
      agents.command('list').description('List agents: role, online, last seen, master key versions, whether each proof verifies under the pinned owner key, and whether the owner confirmed it'),
    ).action(async (options: ListOptions, command: Command) => {
      const out = ctx.output(command);
      const client = await ctx.client();
      const me = await client.call('GET /me');
      const [{ items, more }, masterKey] = await Promise.all([client.list('GET /agents', { limit: limitFrom(options) }), client.call('GET /master-key')]);
      const ownerKey = await pinnedOwnerKey(ctx, me);
      const verified = (agent: AgentView) => proofStatus(agent, ownerKey, me.accountId);
      const confirmed = (agent: AgentView) => confirmedStatus(agent, ownerKey, me.accountId);
      if (out.json) {
        out.result(items.map((agent) => ({ ...agent, verified: verified(agent) ?? null, confirmed: confirmed(agent) ?? null })), () => '');
      } else {
        out.list(items, agentColumns(verified, confirmed), { empty: 'No agents yet: `latchkey enrolments create --role keyserver` makes the first.' });
      }
      if (more) out.note(moreNote(more, items.length)!);
      for (const note of masterKeyNotes(masterKey)) out.note(note);
      const waiting = items.filter((agent) => !agent.statement);
      if (waiting.length) {
        out.note(
          `Not confirmed yet, so they get no keys and no deployments: ${waiting.map(label).join(', ')}. ` +
            'Confirm each with the fingerprint its operator read out: `latchkey agents confirm AGENT --fingerprint FP`.',
        );
      }
      if (!ownerKey && items.length) out.note('Note: no owner key is pinned on this machine, so proofs and confirmations were not checked (?).');
    }),
    ['latchkey agents list', 'latchkey agents list --json | jq \'.[] | select(.online)\''],
  );

  examples(
    agents
      .command('confirm')
      .description(
        'Confirm an enrolled agent: compare the fingerprint its operator read out (printed by `latchkey-agent enrol`) with its keys, then sign, with the owner key, ' +
          'an agent statement naming its role, environments and keys. Until then it gets no keys; peers refuse it. ' +
          'Take the fingerprint from the agent’s operator, not from the API: an enrolment token someone else used shows another one.',
      )
      .argument('<agent>', 'agent id (agt_…) or its name')
      .requiredOption('--fingerprint <fp>', 'the fingerprint the agent printed (hex; colons and spaces are ignored)')
      .action(async (ref: string, options: { fingerprint: string }, command: Command) => {
        // 1. The owner key must be here; the agent's proof must verify under it.
        // 2. The fingerprint read out must be that of the keys the proof binds: the backend cannot
        //    slip in an agent of its own, nor one enrolled with a token someone else used.
        // 3. Sign and record the agent statement (cli/statements.ts); a removed agent stays removed.
        const out = ctx.output(command);
        const expected = normaliseFingerprint(options.fingerprint);
        if (!/^[0-9a-f]{64}$/.test(expected)) throw new UsageError('--fingerprint must be the 64 hex characters the agent printed', { field: 'fingerprint' });
        const client = await ctx.client();
        const me = await client.call('GET /me');
        const owner = await loadOwnerSigningKey(ctx, me);
        const agent = await findAgent(client, ref);
        const proof = proofStatus(agent, owner.publicKey, me.accountId);
        if (proof !== 'yes') throw new RefusedError(`Agent ${label(agent)} is not trusted: ${proof!.replace(/^no: /, '')}; nothing was signed`);
        const { binding, statement: enrolment } = agent.proof;
        const actual = agentFingerprint({ signingKey: fromB64(binding.signingKey), encryptionKey: fromB64(binding.encryptionKey) });
        if (actual !== expected) {
          throw new RefusedError(`Agent ${label(agent)} has fingerprint ${actual}, not the one you were given: nothing was signed`, {
            hint: 'Someone else may have enrolled with its token. Remove it (`latchkey agents remove`) and make a new enrolment.',
          });
        }
        const { signed, unchanged } = await signAndRecord(ctx, client, me, out, {
          kind: 'agent',
          subject: agent.agentId,
          build: (previous) => {
            if (previous?.status === 'removed') throw new RefusedError(`Agent ${label(agent)} was removed by the owner; a removed agent stays removed`);
            return { agentId: agent.agentId, role: binding.role, environments: [...enrolment.environments].sort(), encryptionKey: binding.encryptionKey, signingKey: binding.signingKey, status: 'active' as const };
          },
          describe: (next) => [
            `agent         ${label(agent)}`,
            `role          ${next.role}`,
            `environments  ${next.environments.length ? next.environments.join(', ') : '(none)'}`,
            `fingerprint   ${actual}`,
          ],
        });
        out.result({ agentId: agent.agentId, statement: signed }, () =>
          unchanged
            ? `Agent ${label(agent)} was already confirmed (version ${signed.statement.version}).`
            : `Confirmed ${agent.role} ${label(agent)} (agent statement version ${signed.statement.version}): it gets keys and requests from now on.`,
        );
      }),
    ['latchkey agents confirm keyserver-2 --fingerprint 3f1a…'],
  );

  examples(
    agents
      .command('remove')
      .description('Remove an agent: the owner key signs its removal (peers that see it refuse the agent from then on), then it gets no more requests; a key server no longer receives keys')
      .argument('<agent>', 'agent id (agt_…) or its name')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const me = await client.call('GET /me');
        await loadOwnerSigningKey(ctx, me);
        const agent = await findAgent(client, ref);
        const { binding, statement: enrolment } = agent.proof;
        // The removal names the keys its enrolment bound, whether or not it was ever confirmed.
        const { signed } = await signAndRecord(ctx, client, me, out, {
          kind: 'agent',
          subject: agent.agentId,
          build: (previous) => ({
            agentId: agent.agentId,
            role: binding.role,
            environments: previous?.environments ?? [...enrolment.environments].sort(),
            encryptionKey: binding.encryptionKey,
            signingKey: binding.signingKey,
            status: 'removed' as const,
          }),
          describe: (next) => [`agent   ${label(agent)}`, `role    ${next.role}`, `status  removed`],
        });
        const removed = await client.call('DELETE /agents/{id}', { params: { id: agent.agentId } });
        out.result({ ...removed, statement: signed }, () => `Removed ${removed.role} ${label(agent)} (agent statement version ${signed.statement.version}).`);
      }),
    ['latchkey agents remove agt_0123456789abcdef0123456789abcdef', 'latchkey agents remove keyserver-2'],
  );
};
