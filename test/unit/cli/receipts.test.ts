import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { signReceipt, type GrantIssuedReceipt, type ReleaseInstalledReceipt } from '#shared/protocol/receipts.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { checkReceipts, receiptWarnings } from '#cli/receipt-check.ts';
import { formatDeployment, type DeploymentView } from '#cli/deployment-view.ts';
import { enrolledPeer, newId } from '../agent/fixtures.ts';
import { fakeApi, runCli } from './fake-api.ts';

/** An account with a key server and a target the owner enrolled, and a secure deployment they served. */
const world = () => {
  const owner = generateRawKeyPair('ed25519');
  const accountId = newId('acc');
  const keyServer = enrolledPeer(owner, accountId, { role: 'keyserver' });
  const target = enrolledPeer(owner, accountId, { role: 'target' });
  const environmentId = target.statement.environments[0]!;
  const [deploymentId, releaseId, digest] = [newId('dep'), newId('rel'), 'd'.repeat(64)];
  const ids = { v: 1 as const, accountId, deploymentId, releaseId, environmentId };
  const granted = (over: Partial<GrantIssuedReceipt> = {}, seed = keyServer.keys.signing.privateKey) =>
    signReceipt(seed, { ...ids, kind: 'grant-issued', agentId: keyServer.record.agentId, digest, targets: [target.record.agentId], expiresAt: '2026-12-07T11:00:00.000Z', issuedAt: '2026-12-07T10:00:00.000Z', ...over });
  const installed = (over: Partial<ReleaseInstalledReceipt> = {}, seed = target.keys.signing.privateKey) =>
    signReceipt(seed, { ...ids, kind: 'release-installed', agentId: target.record.agentId, digest, current: 'r1', installedAt: '2026-12-07T10:00:05.000Z', ...over });
  const view = (over: Partial<DeploymentView> = {}): DeploymentView => ({
    deploymentId, appId: newId('app'), appName: 'securekeys', releaseId, releaseVersion: '1.0.0', releaseDigest: digest, encrypted: true, environmentId, environmentName: 'prod',
    deployerId: newId('usr'), state: 'Succeeded', requiredApprovals: 0, votes: [], createdAt: '2026-12-07T10:00:00.000Z', updatedAt: '2026-12-07T10:00:06.000Z', expiresAt: '2026-12-10T10:00:00.000Z', history: [],
    grant: { agentId: keyServer.record.agentId, receipt: granted() },
    targets: [{ agentId: target.record.agentId, outcome: 'succeeded', at: '2026-12-07T10:00:05.000Z', current: 'r1', output: '', receipt: installed() }],
    ...over,
  });
  const agents = [keyServer.record, target.record];
  const check = (d: DeploymentView, listed = agents) => checkReceipts(d, listed, owner.publicKey, accountId);
  return { owner, accountId, keyServer, target, digest, granted, installed, view, agents, check };
};

const targetOf = (w: ReturnType<typeof world>, over: Partial<NonNullable<DeploymentView['targets']>[number]>) => [{ ...w.view().targets![0]!, ...over }];

describe('latchkey status checks the agents’ receipts', () => {
  it('verifies the grant and each install under the keys of the agents’ owner-signed proofs', () => {
    const w = world();
    const check = w.check(w.view());
    expect(check).toEqual({ grant: { agentId: w.keyServer.record.agentId, verified: true, digest: w.digest }, targets: [{ agentId: w.target.record.agentId, verified: true, digest: w.digest }], problems: [] });
    expect(receiptWarnings(check)).toEqual([]);
    const shown = formatDeployment(w.view(), new Map(), check);
    expect(shown).toContain(`${w.target.record.agentId}  installed ${w.digest} (receipt verified) (current: r1)`);
    expect(shown).toContain(`Grant: key server ${w.keyServer.record.agentId} granted ${w.digest} (receipt verified)`);
  });

  it.each([
    ['no receipt', (w: ReturnType<typeof world>) => w.view({ targets: targetOf(w, { receipt: undefined }) }), 'no receipt: the target signed nothing for it'],
    ['a receipt for another digest', (w: ReturnType<typeof world>) => w.view({ targets: targetOf(w, { receipt: w.installed({ digest: 'e'.repeat(64) }) }) }), `it names digest ${'e'.repeat(64)}, not the release's ${'d'.repeat(64)}`],
    ['a receipt for another deployment', (w: ReturnType<typeof world>) => w.view({ targets: targetOf(w, { receipt: w.installed({ deploymentId: `dep_${'0'.repeat(32)}` }) }) }), 'it is for another deployment'],
    ['a receipt signed by another key', (w: ReturnType<typeof world>) => w.view({ targets: targetOf(w, { receipt: w.installed({}, generateRawKeyPair('ed25519').privateKey) }) }), 'its signature does not verify under the agent’s key'],
    ['a receipt edited after it was signed', (w: ReturnType<typeof world>) => w.view({ targets: targetOf(w, { receipt: { ...w.installed(), receipt: { ...w.installed().receipt, current: 'r2' } } }) }), 'its signature does not verify'],
    ['a target not granted by the key server', (w: ReturnType<typeof world>) => w.view({ grant: { agentId: w.keyServer.record.agentId, receipt: w.granted({ targets: [`agt_${'0'.repeat(32)}`] }) } }), 'the key server’s receipt does not grant this target'],
  ] as const)('an install with %s is NOT VERIFIED, loudly', (_name, make, why) => {
    const w = world();
    const d = make(w);
    const check = w.check(d);
    expect(check.targets[0]).toMatchObject({ verified: false, problem: expect.stringContaining(why) });
    expect(receiptWarnings(check)).toEqual([expect.stringMatching(new RegExp(`^WARNING: the install on ${w.target.record.agentId} is not verified: `))]);
    expect(formatDeployment(d, new Map(), check)).toContain(`${w.target.record.agentId}  succeeded (current: r1)  NOT VERIFIED: `);
  });

  it('receipts that say the approvals were the backend’s word (no signed approvals required) are shown so', () => {
    const w = world();
    const d = w.view({ grant: { agentId: w.keyServer.record.agentId, receipt: w.granted({ approvals: 'backend' }) }, targets: targetOf(w, { receipt: w.installed({ approvals: 'backend' }) }) });
    const shown = formatDeployment(d, new Map(), w.check(d));
    expect(shown).toContain(`installed ${w.digest} (receipt verified; approvals on the backend’s word) (current: r1)`);
    expect(shown).toContain(`granted ${w.digest} (receipt verified; approvals on the backend’s word)`);
    const signed = w.view({ targets: targetOf(w, { receipt: w.installed({ approvals: 'signed' }) }) });
    expect(formatDeployment(signed, new Map(), w.check(signed))).toContain(`installed ${w.digest} (receipt verified) (current: r1)`);
  });

  it('an agent the owner did not enrol, or one not listed, cannot vouch for anything', () => {
    const w = world();
    const impostor = enrolledPeer(generateRawKeyPair('ed25519'), w.accountId, { role: 'target' });
    const listed = [w.keyServer.record, { ...w.target.record, proof: impostor.record.proof }];
    expect(w.check(w.view(), listed).targets[0]).toMatchObject({ verified: false, problem: expect.stringContaining('not signed by the account owner') });
    expect(w.check(w.view(), [w.keyServer.record]).targets[0]).toMatchObject({ verified: false, problem: expect.stringContaining('is not among the enrolled agents') });
    // A target's receipt does not count as a key server's grant.
    const asGrant = w.view({ grant: { agentId: w.target.record.agentId, receipt: w.granted({ agentId: w.target.record.agentId }, w.target.keys.signing.privateKey) } });
    expect(w.check(asGrant).grant).toMatchObject({ verified: false, problem: expect.stringContaining('is not a key server') });
  });

  it('an outcome no agent signed for is reported: Succeeded with no install, or a secure install with no grant', () => {
    const w = world();
    expect(receiptWarnings(w.check(w.view({ targets: [] })))).toContain('WARNING: not verified: it is shown as Succeeded, but no target reported an install.');
    expect(receiptWarnings(w.check(w.view({ grant: undefined })))).toContain('WARNING: not verified: it is encrypted, yet no key server’s grant is shown.');
  });

  it('`status ID` checks under the owner key (LATCHKEY_OWNER_KEY), prints the verdicts, and --json carries them', async () => {
    const w = world();
    const d = w.view({ targets: targetOf(w, { receipt: w.installed({ digest: 'e'.repeat(64) }) }) });
    const api = fakeApi({
      [`GET /deployments/${d.deploymentId}`]: () => ({ body: d }),
      'GET /users': () => ({ body: { items: [] } }),
      'GET /me': () => ({ body: { accountId: w.accountId, user: { userId: d.deployerId, role: 'deployer' } } }),
      'GET /agents': () => ({ body: { items: w.agents } }),
    });
    const env = { LATCHKEY_OWNER_KEY: toB64(w.owner.publicKey) };
    const human = await runCli(['status', d.deploymentId], api, { env });
    expect(human.code).toBe(0);
    expect(human.stdout).toContain(`Grant: key server ${w.keyServer.record.agentId} granted ${w.digest} (receipt verified)`);
    expect(human.stdout).toContain('NOT VERIFIED: the receipt does not match');
    expect(human.stderr).toContain(`WARNING: the install on ${w.target.record.agentId} is not verified: the receipt does not match: it names digest ${'e'.repeat(64)}`);
    const json = await runCli(['status', d.deploymentId, '--json'], api, { env });
    expect(JSON.parse(json.stdout).receipts).toEqual({ grant: { agentId: w.keyServer.record.agentId, verified: true, digest: w.digest }, targets: [{ agentId: w.target.record.agentId, verified: false, problem: expect.stringContaining("not the release's") }], problems: [] });
  });

  it('`status ID` asks for what a receipt check reads alongside the deployment (one round trip); with nothing to check, their failure changes nothing', async () => {
    const w = world();
    const d = w.view({ state: 'PendingApproval', grant: undefined, targets: undefined });
    // GET /me and GET /agents are not answered by this fake API: they fail.
    const api = fakeApi({ [`GET /deployments/${d.deploymentId}`]: () => ({ body: d }), 'GET /users': () => ({ body: { items: [] } }) });
    const json = await runCli(['status', d.deploymentId, '--json'], api);
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(d);
    expect(api.calls()).toContain(`GET /deployments/${d.deploymentId}`);
    expect(api.calls()).toEqual(expect.arrayContaining(['GET /me', 'GET /agents']));
  });
});
