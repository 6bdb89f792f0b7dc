import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { emailsTo, linkIn, submitForm } from '../../support/approval-mail.ts';
import { waitFor } from '../../support/clients.ts';
import { approvalSetup } from '../../support/deployments.ts';
import { cliSession, type CliResult } from './run-cli.ts';
import { cliBin as bin } from '#local/demo/processes.ts';


/**
 * One account set up through the API (DESIGN §4: owner, deployer, approvers, an environment
 * that needs approval, a ready release), and the real `latchkey` binary logged in as each person
 * through LATCHKEY_ENDPOINT / LATCHKEY_TOKEN.
 */
const setup = async (policy: Parameters<typeof approvalSetup>[0] = {}) => {
  const s = await approvalSetup(policy);
  const cli = await cliSession();
  // Each person's key on the machine the CLI runs on, as their own login would have left it.
  await cli.installKey({ kind: 'owner', accountId: s.a.accountId }, s.ownerKey);
  for (const [call, { userId, keys }] of s.people) if (call !== s.a.owner) await cli.installKey({ kind: 'signing', accountId: s.a.accountId, userId }, keys);
  const as = (token: string) => ({
    run: (args: string[]) => cli.run(args, { env: { LATCHKEY_ENDPOINT: cli.endpoint, LATCHKEY_TOKEN: token } }),
    json: <T = any>(args: string[]) => cli.json<T>(args, { env: { LATCHKEY_ENDPOINT: cli.endpoint, LATCHKEY_TOKEN: token } }),
    until: <T, R>(what: string, args: string[], check: (value: T) => R | undefined, timeoutMs: number) =>
      cli.until(what, args, check, timeoutMs, { env: { LATCHKEY_ENDPOINT: cli.endpoint, LATCHKEY_TOKEN: token } }),
  });
  return {
    ...s,
    cli,
    owner: as(s.a.ownerToken),
    deployer: as(s.a.deployer.token),
    approver: as(s.a.approver.token),
    /** Starts a deployment through the CLI, by names and version, as the deployer. */
    deployByName: () => as(s.a.deployer.token).json<{ deploymentId: string; state: string }>(['deploy', s.app.name, s.release.version, s.environment.name]),
  };
};

/**
 * The real binary as a child whose output can be read while it runs (`status --watch`), so a test
 * acts only once the watch has shown the deployment, and can interrupt it.
 */
const spawnCli = (s: Awaited<ReturnType<typeof setup>>, token: string, args: string[]) => {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: s.cli.home,
    env: { ...process.env, LATCHKEY_CONFIG: s.cli.configPath, LATCHKEY_ENDPOINT: s.cli.endpoint, LATCHKEY_TOKEN: token },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result: CliResult = { code: null, stdout: '', stderr: '' };
  child.stdout.on('data', (chunk: Buffer) => (result.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (result.stderr += chunk.toString()));
  const exited = new Promise<CliResult>((resolve) => child.once('close', (code) => resolve({ ...result, code })));
  const printed = (text: string) => waitFor(`latchkey ${args.join(' ')} to print ${text}`, async () => (result.stdout.includes(text) ? true : undefined), 20_000);
  return { child, result, exited, printed };
};

/** Polls `latchkey status ID --json` until the deployment is in `state`, within a deadline (the binary has the last word: cli.until). */
const untilState = (run: Pick<Awaited<ReturnType<typeof setup>>['owner'], 'until'>, id: string, state: string) =>
  run.until(`${id} to be ${state}`, ['status', id], (d: { state: string }) => (d.state === state ? d : undefined), 20_000);

describe('latchkey deploy, approve and status --watch', () => {
  it('the deployer deploys by names, the approver approves and deploys, and status --watch follows it to Succeeded (exit 0)', async () => {
    // Prepare
    const s = await setup({ requiredApprovals: 1 });

    // Act
    const deployed = await s.deployer.run(['deploy', s.app.name, s.release.version, s.environment.name]);
    const id = /(dep_[0-9a-f]{32})/.exec(deployed.stdout)?.[1];
    expect(id, deployed.stdout + deployed.stderr).toBeDefined();
    const watch = spawnCli(s, s.a.deployer.token, ['status', id!, '--watch']);
    await watch.printed('PendingApproval');
    const approved = await s.approver.run(['approve', id!, '--deploy', '--comment', 'Checked the plan']);
    const watched = await watch.exited;

    // Assess
    expect(deployed.code).toBe(0);
    expect(deployed.stdout).toContain(`${s.app.name} ${s.release.version} to ${s.environment.name}, PendingApproval`);
    expect(deployed.stdout).toContain('Waiting for 1 approval; approvers were emailed');
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain('InProgress');
    expect(watched.code, watched.stderr).toBe(0);
    const lines = watched.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`PendingApproval \\(started by .*${s.a.deployer.user.email}`));
    expect(watched.stdout).toMatch(new RegExp(`${s.a.approver.user.email}> approved \\(and deploy\\): "Checked the plan"`));
    expect(watched.stdout).toContain('InProgress (by');
    expect(lines.at(-1)).toMatch(/Z {2}Succeeded$/);
    expect(watched.stdout).not.toContain('\u001b['); // not a terminal: lines, no redraws

    const shown = await s.deployer.run(['status', id!]);
    expect(shown.stdout).toMatch(/state\s+Succeeded/);
    expect(shown.stdout).toContain(`${s.a.approver.user.email}> (and deploy): "Checked the plan"`);
  });

  it('approve without --deploy leaves it Approved; `deploy ID` by an approver starts it', async () => {
    const s = await setup({ requiredApprovals: 2 });
    const d = await s.deployByName();
    const first = await s.approver.run(['approve', d.deploymentId]);
    expect(first.stdout).toContain('Waiting for 1 more approval (1 of 2)');

    const second = await s.cli.json(['approve', d.deploymentId], { env: { LATCHKEY_ENDPOINT: s.cli.endpoint, LATCHKEY_TOKEN: s.extra[0]!.user.firstToken.secret } });
    expect(second.state).toBe('Approved');
    const pendingDeploy = await s.approver.run(['status', d.deploymentId]);
    expect(pendingDeploy.stdout).toContain(`latchkey deploy ${d.deploymentId}`);

    const started = await s.approver.json(['deploy', d.deploymentId]);
    expect(started.state).toBe('InProgress');
    await untilState(s.deployer, d.deploymentId, 'Succeeded');
  });

  it('where the owner requires signed approvals: the approver’s CLI shows what it signs and its vote carries the signature; an unsigned vote is refused', async () => {
    const s = await setup({ signedApprovals: true });
    const d = await s.deployByName();
    const unsigned = await s.a.approver.call('POST', `/deployments/${d.deploymentId}/approve`, { deploy: true });
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.field).toBe('approval');

    const approved = await s.approver.run(['approve', d.deploymentId, '--deploy']);
    expect(approved.code, approved.stderr).toBe(0);
    for (const fact of ['Signing "approve-and-deploy" on:', `application   ${s.app.name}`, `release       1.0.0 (${s.release.releaseId})`, 'signed by     ', `digest        ${s.release.digest}`, `deployment    ${d.deploymentId}`]) {
      expect(approved.stderr).toContain(fact);
    }
    const shown = (await s.a.owner('GET', `/deployments/${d.deploymentId}`)).body;
    expect(shown.votes).toEqual([expect.objectContaining({ userId: s.a.approver.user.userId, approval: expect.objectContaining({ signature: expect.any(String) }) })]);
    await untilState(s.deployer, d.deploymentId, 'Succeeded');
  });

  it('the deployer cannot approve their own deployment: exit 1 with the reason', async () => {
    const s = await setup();
    const d = await s.deployByName();
    const self = await s.deployer.run(['approve', d.deploymentId]);
    expect(self.code).toBe(1);
    expect(self.stderr).toContain('someone else must approve it');
  });
});

describe('signed approvals by default, and the owner\'s opt-out (issue #20)', () => {
  /** The approval link mailed to `address` for this deployment (an approver gets one mail per deployment). */
  const linkFor = (address: string, deploymentId: string) =>
    waitFor(`the approval mail to ${address} for ${deploymentId}`, async () => {
      const mail = (await emailsTo(address)).find((m) => m.body.text?.includes(deploymentId));
      return mail ? linkIn(mail.body.text).url : undefined;
    }, 15_000);

  it('a new environment requires signed approvals; `envs update --unsigned-approvals` opts out (warned, listed, signed into its statement); `--signed-approvals` turns them back on', async () => {
    // Prepare: an environment made by the owner's CLI with no word about signing.
    const s = await setup();
    const name = 'fresh';
    const created = await s.owner.json(['envs', 'create', name, '--approval', '--approvers', s.group.name, '--required', '1']);
    const deployTo = () => s.deployer.json<{ deploymentId: string; state: string }>(['deploy', s.app.name, s.release.version, name]);
    const statementOf = async () =>
      ((await s.a.owner('GET', '/statements?kind=environment')).body.items as { statement: { environmentId: string; approval: { signed: boolean } } }[]).find(
        (item) => item.statement.environmentId === created.environmentId,
      )!.statement;
    const row = (table: string) => table.split('\n').find((line) => line.includes(` ${name} `)) ?? '';

    // Act 1: by default, neither an unsigned API vote nor the emailed link decides.
    const first = await deployTo();
    const unsignedVote = await s.a.approver.call('POST', `/deployments/${first.deploymentId}/approve`, {});
    const click = await submitForm(await linkFor(s.a.approver.user.email, first.deploymentId), { action: 'approve', message: '' });
    const listedSigned = await s.owner.run(['envs', 'list']);

    // Assess 1
    expect(created.approval).toMatchObject({ enabled: true, signed: true });
    expect((await statementOf()).approval.signed).toBe(true);
    expect(first.state).toBe('PendingApproval');
    expect(unsignedVote.status).toBe(400);
    expect(unsignedVote.body.field).toBe('approval');
    expect(unsignedVote.body.title).toContain(`latchkey approve ${first.deploymentId}`);
    expect(click.status).not.toBe(200);
    expect(click.html).toContain(`${name} requires signed approvals`);
    expect((await s.a.owner('GET', `/deployments/${first.deploymentId}`)).body).toMatchObject({ state: 'PendingApproval', votes: [] });
    expect(row(listedSigned.stdout)).toMatch(/\s72h\s+signed\s/);

    // Act 2: the owner opts out.
    const optOut = await s.owner.run(['envs', 'update', name, '--unsigned-approvals']);
    const listedUnsigned = await s.owner.run(['envs', 'list']);
    const shown = await s.owner.json(['envs', 'show', name]);
    const second = await deployTo();
    const clicked = await submitForm(await linkFor(s.a.approver.user.email, second.deploymentId), { action: 'approve', message: 'on the link' });

    // Assess 2
    expect(optOut.code, optOut.stderr).toBe(0);
    expect(optOut.stderr).toContain(`Warning: approvals in ${name} are not signed: an approver's click on the emailed link`);
    expect(optOut.stderr).toContain("the backend's word");
    expect(row(listedUnsigned.stdout)).toContain('UNSIGNED (owner opted out)');
    expect(shown.approval.signed).toBe(false);
    expect((await statementOf()).approval.signed).toBe(false);
    expect(clicked.status, clicked.html).toBe(200);
    expect(clicked.html).toContain('You approved this deployment');
    expect((await s.a.owner('GET', `/deployments/${second.deploymentId}`)).body.state).toBe('Approved');

    // Act 3: and back on.
    const back = await s.owner.run(['envs', 'update', name, '--signed-approvals']);
    const relisted = await s.owner.run(['envs', 'list']);
    const third = await deployTo();
    const refused = await s.a.approver.call('POST', `/deployments/${third.deploymentId}/approve`, {});
    const signedVote = await s.approver.run(['approve', third.deploymentId]);

    // Assess 3
    expect(back.code, back.stderr).toBe(0);
    expect(back.stderr).not.toContain('Warning');
    expect(row(relisted.stdout)).toMatch(/\s72h\s+signed\s/);
    expect((await statementOf()).approval.signed).toBe(true);
    expect(refused.status).toBe(400);
    expect(signedVote.code, signedVote.stderr).toBe(0);
    const decided = (await s.a.owner('GET', `/deployments/${third.deploymentId}`)).body;
    expect(decided.state).toBe('Approved');
    expect(decided.votes).toEqual([expect.objectContaining({ userId: s.a.approver.user.userId, approval: expect.objectContaining({ signature: expect.any(String) }) })]);
  });
});

describe('latchkey decline and cancel', () => {
  it('decline needs a message; the message shows in status, and status --watch exits 1 with it', async () => {
    const s = await setup();
    const d = await s.deployByName();

    const noMessage = await s.approver.run(['decline', d.deploymentId]);
    const declined = await s.approver.run(['decline', d.deploymentId, '--message', 'Change freeze until Monday']);
    const shown = await s.deployer.run(['status', d.deploymentId]);
    const watched = await s.deployer.run(['status', d.deploymentId, '--watch']);

    expect(noMessage.code).toBe(2);
    expect(declined.code, declined.stderr).toBe(0);
    expect(shown.stdout).toMatch(/state\s+Declined/);
    expect(shown.stdout).toMatch(/message\s+Change freeze until Monday/);
    expect(shown.stdout).toMatch(new RegExp(`declined by\\s+.*<${s.a.approver.user.email}>`));
    expect(watched.code).toBe(1);
    expect(watched.stderr).toContain('"Change freeze until Monday"');
  });

  it('the deployer cancels a waiting deployment; an approver may not (exit 1); acting after it is refused', async () => {
    const s = await setup();
    const d = await s.deployByName();

    const byApprover = await s.approver.run(['cancel', d.deploymentId]);
    const byDeployer = await s.deployer.run(['cancel', d.deploymentId]);
    const late = await s.approver.run(['approve', d.deploymentId]);
    const shown = await s.owner.json(['status', d.deploymentId]);

    expect(byApprover.code).toBe(1);
    expect(byDeployer.code, byDeployer.stderr).toBe(0);
    expect(byDeployer.stdout).toContain(`Canceled ${d.deploymentId}`);
    expect(late.code).toBe(1);
    expect(shown).toMatchObject({ state: 'Canceled', canceled: { userId: s.a.deployer.user.userId } });
  });
});

describe('latchkey status, releases list and --json', () => {
  it('lists deployments (all, and per environment), and releases of an application', async () => {
    const s = await setup({ enabled: false });
    const d = await s.deployByName();
    await untilState(s.owner, d.deploymentId, 'Succeeded');

    const all = await s.owner.json<{ deploymentId: string }[]>(['status']);
    const here = await s.owner.json<{ deploymentId: string }[]>(['status', '--env', s.environment.name]);
    const table = await s.owner.run(['status']);
    const releases = await s.deployer.json<{ releaseId: string; version: string; state: string }[]>(['releases', 'list', s.app.name]);
    const releaseTable = await s.deployer.run(['releases', 'list', s.app.appId]);

    expect(all.map((x) => x.deploymentId)).toContain(d.deploymentId);
    expect(here.map((x) => x.deploymentId)).toEqual([d.deploymentId]);
    expect(table.stdout).toMatch(new RegExp(`${d.deploymentId}\\s+${s.app.name}\\s+1\\.0\\.0\\s+${s.environment.name}\\s+Succeeded\\s+-\\s+${s.a.deployer.user.email}`));
    expect(releases).toEqual([expect.objectContaining({ releaseId: s.release.releaseId, version: '1.0.0', state: 'ready' })]);
    expect(releaseTable.stdout).toMatch(new RegExp(`${s.release.releaseId}\\s+1\\.0\\.0\\s+ready`));
  });

  it('status --watch --json prints the deployment as JSON lines and exits 1 when it fails', async () => {
    const s = await setup({ enabled: false, target: false });
    const d = await s.deployByName();
    const watched = await s.deployer.run(['status', d.deploymentId, '--watch', '--json']);
    expect(watched.code).toBe(1);
    const last = JSON.parse(watched.stdout.trimEnd().split('\n').at(-1)!);
    expect(last).toMatchObject({ deploymentId: d.deploymentId, state: 'Failed', outcome: { reason: expect.stringContaining(`Environment ${s.environment.name} has no enrolled target`) } });
    expect(JSON.parse(watched.stderr).error).toMatchObject({ exitCode: 1 });
  });

  it('an unknown release version exits 1 and sends no deployment', async () => {
    const s = await setup();
    const result = await s.deployer.run(['deploy', s.app.name, '9.9.9', s.environment.name]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('has no release "9.9.9"');
    expect(await s.owner.json(['status'])).toEqual([]);
  });
});

describe('latchkey status --watch and Ctrl-C', () => {
  it('SIGINT stops watching at once with exit 130; the deployment is untouched', async () => {
    const s = await setup();
    const d = await s.deployByName();
    const watch = spawnCli(s, s.a.deployer.token, ['status', d.deploymentId, '--watch']);

    // Interrupt only once it is watching (its first line is out), as a person at the keyboard would.
    await watch.printed('PendingApproval');
    watch.child.kill('SIGINT');
    const { code, stderr } = await watch.exited;

    expect(code, stderr).toBe(130);
    expect(stderr).toContain(`Stopped watching ${d.deploymentId}; it is PendingApproval`);
    expect((await s.owner.json(['status', d.deploymentId])).state).toBe('PendingApproval');
  });
});
