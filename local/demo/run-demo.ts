import { chmod, chown, mkdir, mkdtemp, readFile, realpath, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Endpoints } from '../stack.ts';
import { fingerprintIn, localReleaseSetup } from './agent-process.ts';
import { createInterface } from 'node:readline';
import { capturedEmails, linkIn } from './mail.ts';
import { approverBrowser, chromiumAtHand, type ApproverBrowser } from './passkey-browser.ts';
import { pollUntil } from './poll.ts';
import { agentBin, cliBin, run, StepFailed, type BackgroundProcesses } from './processes.ts';
import { writeDemoRelease } from './release-fixture.ts';

export type DemoOptions = {
  endpoints: Endpoints;
  /** Where the demo keeps its people's configs, agents' state and the target's install; a temp dir when omitted. */
  dataDir?: string;
  /** Approve with the approver's CLI (a signed approval) at once, instead of waiting for a person. */
  autoApprove: boolean;
  processes: BackgroundProcesses;
  say: (line: string) => void;
};

export type DemoOutcome = { deploymentId: string; state: string; installedSecret: string; dir: string };

const OWNER = { name: 'Ada Lovelace', email: 'ada@example.com' };
const APPROVER = { name: 'Bob Approver', email: 'bob@example.com' };
// Time for a person to click the link or type the command in a second terminal.
const APPROVAL_WAIT_MS = 30 * 60 * 1000;

/**
 * The seeds' secure-package scenario, end to end, through the same binaries a person would use:
 * an owner and an approver, two key servers and one target as separate processes, a secure app
 * holding every environment's secret, a push, and a deployment to an approval-gated environment
 * that ends with only the production secret on the production server.
 */
export const runDemo = async ({ endpoints, dataDir, autoApprove, processes, say }: DemoOptions): Promise<DemoOutcome> => {
  // 1. A directory for everything the demo's people and machines keep.
  const dir = dataDir ? path.resolve(dataDir, 'demo') : await mkdtemp(path.join(tmpdir(), 'latchkey-demo-'));
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const home = await realpath(dir);
  const person = (who: string) => ({ HOME: path.join(home, who), LATCHKEY_CONFIG: path.join(home, who, 'latchkey.json'), LATCHKEY_ENDPOINT: endpoints.api, LATCHKEY_TOKEN: undefined });
  const ada = person('ada');
  const bob = person('bob');
  const agentNames = ['keyserver-1', 'keyserver-2', 'prod-server'];
  const runAgent = (name: string) => processes.start(agentBin, ['run', '--state', path.join(home, name)], path.join(home, `${name}.log`));

  // With --data the demo's account survives a restart: bring its agents back instead of starting over.
  const saved = await readFile(path.join(home, 'demo.json'), 'utf8').then((text) => JSON.parse(text) as DemoOutcome, () => undefined);
  if (saved) {
    agentNames.forEach(runAgent);
    say(`The demo account in ${home} is kept from an earlier run: its agents are running again.`);
    say(`See it with: LATCHKEY_CONFIG=${ada.LATCHKEY_CONFIG} node ${path.relative(process.cwd(), cliBin)} status ${saved.deploymentId}`);
    return saved;
  }

  const latchkey = async <T>(who: ReturnType<typeof person>, args: string[], input?: string) =>
    JSON.parse(await run(cliBin, [...args, '--json'], { env: who, ...(input ? { input } : {}) })) as T;

  // The target runs release code as a user of its own (DESIGN §6), in a release tree beside its
  // state: as root, the demo uses `nobody` (agent-process.ts); otherwise it stops here, saying why.
  // Others may pass through the demo's directory (not list it) to reach that tree.
  await chmod(home, 0o711);
  const isolation = await localReleaseSetup(path.join(home, 'prod-server.releases')).catch((error: Error) => {
    throw new StepFailed(`The demo cannot set up its target: ${error.message}`, 'Run `sudo npm start`, or `npm start -- --no-demo` for the stack alone.');
  });

  // 2. The owner signs up; the CLI makes the owner key on this machine.
  const account = await latchkey<{ accountId: string }>(ada, ['signup', '--account', 'Acme', '--name', OWNER.name, '--email', OWNER.email]);
  say(`Account ${account.accountId} created; ${OWNER.name} is its owner (owner key kept in ${path.join(home, 'ada')})`);

  // 3. An approver with a token of their own, and a production environment that needs one approval.
  const added = await latchkey<{ userId: string; firstToken: { secret: string } }>(ada, ['users', 'add', '--name', APPROVER.name, '--email', APPROVER.email, '--role', 'approver']);
  // Bob pins the owner key Ada reads out to him: his CLI checks signatures against it, never the API's word.
  const { ownerKey } = await latchkey<{ ownerKey: { publicKey: string } }>(ada, ['keys', 'show']);
  await run(cliBin, ['login', '--endpoint', endpoints.api, '--owner-key', ownerKey.publicKey], { env: bob, input: `${added.firstToken.secret}\n` });
  // Bob's login made his signing key on his machine; he reads its public half to Ada, who vouches
  // for it in his person statement: key servers and targets count only approvals signed with it.
  const bobKeys = await latchkey<{ signingKey: { publicKey: string; fingerprint: string } }>(bob, ['keys', 'show']);
  await latchkey(ada, ['keys', 'vouch', APPROVER.email, '--key', bobKeys.signingKey.publicKey]);
  say(`${APPROVER.name} logged in; Ada vouched for his signing key ${bobKeys.signingKey.fingerprint}`);
  // Bob lives in his mail: with a browser at hand (chromium, headless here, a virtual authenticator
  // standing in for his fingerprint reader) he registers a passkey through Ada's link, reads its
  // fingerprint to her, and she vouches for it; then he can approve from the email. Otherwise he
  // approves with his CLI.
  const chromium = await chromiumAtHand();
  // (Chromium also ends with this process, should the demo stop on the way.)
  const browser = chromium ? await approverBrowser(chromium) : undefined;
  if (browser) {
    const link = await latchkey<{ url: string }>(ada, ['users', 'passkey-link', APPROVER.email]);
    say(`Ada sent ${APPROVER.name} a passkey registration link (emailed; single use, 24 hours)`);
    const fingerprint = await browser.register(link.url, 'Bob’s laptop');
    say(`${APPROVER.name} registered a passkey in his browser (headless Chromium here); he reads its fingerprint to Ada by phone: ${fingerprint}`);
    await latchkey(ada, ['users', 'vouch-passkey', APPROVER.email, '--fingerprint', fingerprint]);
    say(`Ada vouched for exactly that passkey: ${APPROVER.name}'s person statement, signed with the owner key, names it`);
  } else {
    say(`No browser at hand (chromium): ${APPROVER.name} will approve with his CLI`);
  }
  await latchkey(ada, ['groups', 'create', 'prod-approvers']);
  await latchkey(ada, ['groups', 'add-member', 'prod-approvers', APPROVER.email]);
  // Where the production secret goes on the target: a directory its release user may write.
  const installDir = path.join(home, 'prod-server.installed');
  await mkdir(installDir, { recursive: true, mode: 0o700 });
  await chown(installDir, isolation.user.uid, isolation.user.gid);
  const destination = path.join(installDir, 'secret.cred');
  // Signed approvals are the default for a new environment (`--unsigned-approvals` would opt out).
  await latchkey(ada, [
    'envs', 'create', 'prod', '--approval', '--approvers', 'prod-approvers', '--required', '1',
    '--var', 'SECRET_FILE=secret.cred.prod', '--var', `DESTINATION_FILE=${destination}`,
  ]);
  say(`Environment prod needs 1 signed approval from prod-approvers (${APPROVER.name} <${APPROVER.email}>); Ada signed its statement with the owner key`);

  // 4. Agents: two key servers and a production target, each enrolled with an owner-signed token
  //    (passed in the environment, never on a command line) and confirmed by the owner with the
  //    fingerprint the agent printed: until then an agent gets no keys.
  const startAgent = async (name: string, role: 'keyserver' | 'target', envs: string[] = []) => {
    const enrolment = await latchkey<{ token: string; ownerKey: string }>(ada, ['enrolments', 'create', '--role', role, ...envs.flatMap((e) => ['--env', e])]);
    const state = path.join(home, name);
    const installs = envs.length ? ['--release-user', isolation.releaseUser, '--releases', isolation.releasesDir] : [];
    await run(agentBin, ['init', '--state', state, '--endpoint', endpoints.api, '--owner-key', enrolment.ownerKey, ...installs]);
    const enrolled = await run(agentBin, ['enrol', '--state', state, '--name', name], { env: { LATCHKEY_ENROLMENT_TOKEN: enrolment.token } });
    await latchkey(ada, ['agents', 'confirm', name, '--fingerprint', fingerprintIn(enrolled)]);
    runAgent(name);
    return state;
  };
  const [ks1, ks2, target] = agentNames as [string, string, string];
  await startAgent(ks1, 'keyserver');
  await startAgent(ks2, 'keyserver');
  say(`Key servers ${ks1} and ${ks2} enrolled, confirmed by the owner and running (their keys never leave their state directories)`);
  const targetState = await startAgent(target, 'target', ['prod']);
  say(`Target prod-server enrolled for prod, confirmed and running (state in ${targetState}; release code runs as ${isolation.releaseUser}, in ${isolation.releasesDir})`);

  // 5. A secure application: needs two online key servers, which create the master key between them.
  await latchkey(ada, ['apps', 'create', 'web']);
  await pollUntil(
    'two key servers online holding the master key',
    async () => {
      const agents = await latchkey<{ role: string; online: boolean; masterVersions: number[] }[]>(ada, ['agents', 'list']);
      return agents.filter((a) => a.role === 'keyserver' && a.online && a.masterVersions.length > 0).length >= 2 ? true : undefined;
    },
    60_000,
    `See the key servers' logs in ${home}/keyserver-*.log`,
  );
  await latchkey(ada, ['apps', 'secure', 'web']);
  say('Application web is secure: its releases are encrypted on the pusher’s machine');

  // 6. Push: every environment's secret in one encrypted release.
  const releaseDir = path.join(home, 'release');
  await writeDemoRelease(releaseDir);
  const release = await latchkey<{ releaseId: string; version: string }>(ada, ['push', 'web', releaseDir, '--version', '1.0.0']);
  say(`Pushed web 1.0.0 (${release.releaseId}): secret.cred.dev, .stage and .prod, encrypted before upload`);

  // 7. Deploy to prod: Ada's CLI signs the intent; it waits for the approver, who is emailed.
  const requestedAt = Date.now() - 1000;
  const deployment = await latchkey<{ deploymentId: string; state: string }>(ada, ['deploy', 'web', '1.0.0', 'prod']);
  const { deploymentId } = deployment;
  say(`Deployment ${deploymentId} of web 1.0.0 to prod is ${deployment.state} (intent signed by ${OWNER.name})`);
  const mail = await pollUntil(
    `the approval email to ${APPROVER.email}`,
    async () => (await capturedEmails(endpoints.sesStore)).find((m) => m.destination.to.includes(APPROVER.email) && m.at * 1000 >= requestedAt && /\/approvals\//.test(m.body.text ?? '')),
    30_000,
    `Open ${endpoints.sesStore} to see what was mailed`,
  );
  const approvalLink = linkIn(mail.body.text).url;

  // prod takes signed approvals only: Bob's passkey signs his decision on the emailed page, or his
  // CLI checks the release and the intent against what the owner signed, shows them, and signs; a
  // plain click would not count.
  const approveCommand = ['approve', deploymentId, '--deploy'];
  const approveWithPasskey = async (browser: ApproverBrowser) => {
    await browser.decide(approvalLink, 'Approve and Deploy');
    say(`${APPROVER.name} opened the emailed link and clicked Approve and Deploy; his passkey signed the deployment's intent and his decision`);
  };
  let waitingForEnter: ReturnType<typeof createInterface> | undefined;
  if (autoApprove) {
    if (browser) await approveWithPasskey(browser);
    else {
      await latchkey(bob, approveCommand);
      say(`${APPROVER.name} approved it with his signing key (--auto-approve)`);
    }
  } else {
    say(
      [
        `Waiting for ${APPROVER.name} to approve. prod takes signed approvals only: from a second terminal, approve as Bob with the CLI:`,
        `    LATCHKEY_CONFIG=${bob.LATCHKEY_CONFIG} node ${path.relative(process.cwd(), cliBin)} ${approveCommand.join(' ')}`,
        ...(browser && process.stdin.isTTY ? [`  or press Enter here: Bob opens the emailed link (${approvalLink}) and approves with his passkey.`] : []),
      ].join('\n'),
    );
    if (browser && process.stdin.isTTY) {
      waitingForEnter = createInterface({ input: process.stdin });
      waitingForEnter.once('line', () => {
        waitingForEnter?.close();
        approveWithPasskey(browser).catch((error: Error) => say(`The passkey approval did not go through: ${error.message}`));
      });
    }
  }

  // 8. Follow it to the end and show what the target installed.
  const terminal = ['Succeeded', 'Failed', 'Declined', 'Canceled', 'Expired'];
  let last = deployment.state;
  const final = await pollUntil(
    'the deployment to end',
    async () => {
      const now = await latchkey<{ state: string; outcome?: { reason?: string } }>(ada, ['status', deploymentId]);
      if (now.state !== last) say(`Deployment ${deploymentId} is ${(last = now.state)}`);
      return terminal.includes(now.state) ? now : undefined;
    },
    APPROVAL_WAIT_MS,
    'Run `latchkey status ID` to see where it is',
  );
  waitingForEnter?.close();
  await browser?.close();
  if (final.state !== 'Succeeded') {
    throw new StepFailed(`Deployment ${deploymentId} ended ${final.state}${final.outcome?.reason ? `: ${final.outcome.reason}` : ''}`, `See ${home}/prod-server.log`);
  }
  const installed = await readFile(destination, 'utf8');
  say(`prod-server installed web 1.0.0: ${destination} holds the prod secret only (${installed.trim()})`);
  const outcome = { deploymentId, state: final.state, installedSecret: destination, dir: home };
  await writeFile(path.join(home, 'demo.json'), `${JSON.stringify(outcome, null, 2)}\n`, { mode: 0o600 });
  return outcome;
};
