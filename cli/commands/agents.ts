import type { Command } from 'commander';
import { verifyAgentProof } from '#shared/protocol/trust.ts';
import type { ItemOf } from '../api-client.ts';
import { examples, limitFrom, listOptions, moreNote, type ListOptions } from '../command-kit.ts';
import type { Context } from '../context.ts';
import { RefusedError } from '../errors.ts';
import { ownerKeyPath, readKeyFile } from '../keys.ts';
import { masterKeyNotes } from '../master-key-notes.ts';
import { formatTime, type Column } from '../output.ts';

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

const agentColumns = (verified: (agent: AgentView) => string | undefined): Column<AgentView>[] => [
  { header: 'id', value: (a) => a.agentId },
  { header: 'name', value: (a) => a.name },
  { header: 'role', value: (a) => a.role },
  { header: 'online', value: (a) => a.online },
  { header: 'last seen', value: (a) => formatTime(a.lastSeenAt) },
  { header: 'master keys', value: (a) => (a.role === 'keyserver' ? a.masterVersions.map((v) => `v${v}`).join(',') : undefined) },
  { header: 'verified', value: (a) => verified(a) ?? '?' },
];

export const registerAgents = (program: Command, ctx: Context) => {
  const agents = program.command('agents').description('Enrolled agents (key servers and targets) and whether the owner key vouches for them');

  examples(
    listOptions(agents.command('list').description('List agents: role, online, last seen, master key versions, and whether each proof verifies under the local owner key')).action(
      async (options: ListOptions, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        const me = await client.call('GET /me');
        const [{ items, more }, masterKey] = await Promise.all([client.list('GET /agents', { limit: limitFrom(options) }), client.call('GET /master-key')]);
        const ownerKey = (await readKeyFile(ownerKeyPath(ctx.configPath, me.accountId)))?.publicKey;
        const verified = (agent: AgentView) => proofStatus(agent, ownerKey, me.accountId);
        if (out.json) {
          out.result(items.map((agent) => ({ ...agent, verified: verified(agent) ?? null })), () => '');
        } else {
          out.list(items, agentColumns(verified), { empty: 'No agents yet: `latchkey enrolments create --role keyserver` makes the first.' });
        }
        if (more) out.note(moreNote(more, items.length)!);
        for (const note of masterKeyNotes(masterKey)) out.note(note);
        if (!ownerKey && items.length) out.note('Note: no owner key on this machine, so proofs were not checked (VERIFIED shows ?).');
      },
    ),
    ['latchkey agents list', 'latchkey agents list --json | jq \'.[] | select(.online)\''],
  );

  examples(
    agents
      .command('remove')
      .description('Remove an agent: it gets no more requests; a key server no longer receives keys')
      .argument('<agent>', 'agent id (agt_…) or its name')
      .action(async (ref: string, _options: unknown, command: Command) => {
        const out = ctx.output(command);
        const client = await ctx.client();
        let id = ref;
        if (!/^agt_[0-9a-f]{32}$/.test(ref)) {
          const matches = (await client.list('GET /agents')).items.filter((a) => a.name?.toLowerCase() === ref.trim().toLowerCase());
          if (matches.length !== 1) {
            throw new RefusedError(matches.length ? `${JSON.stringify(ref)} names ${matches.length} agents: use an id` : `No agent is named ${JSON.stringify(ref)}`, {
              hint: 'List them with `latchkey agents list`.',
            });
          }
          id = matches[0]!.agentId;
        }
        const removed = await client.call('DELETE /agents/{id}', { params: { id } });
        out.result(removed, () => `Removed ${removed.role} ${removed.name ? `${removed.name} (${removed.agentId})` : removed.agentId}.`);
      }),
    ['latchkey agents remove agt_0123456789abcdef0123456789abcdef', 'latchkey agents remove keyserver-2'],
  );
};
