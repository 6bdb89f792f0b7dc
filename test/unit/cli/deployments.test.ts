import { describe, expect, it } from 'vitest';
import { pickRelease, type ReleaseView } from '#cli/commands/releases.ts';
import { formatDeployment, nextStep, timeline, type DeploymentView } from '#cli/deployment-view.ts';
import { RefusedError, UsageError } from '#cli/errors.ts';
import { eraseRows, MAX_POLL_FAILURES, rowsOf } from '#cli/watch.ts';
import { intentSignatureVerifies } from '#shared/protocol/deployment-evidence.ts';
import { fakeApi, fakeOwnerMe, hex, iso, problem, runCli } from './fake-api.ts';
import { signingWorld } from './key-fixtures.ts';

const ids = {
  app: `app_${hex(1)}`,
  release: `rel_${hex(2)}`,
  oldRelease: `rel_${hex(3)}`,
  prod: `env_${hex(4)}`,
  staging: `env_${hex(5)}`,
  dep: `dep_${hex(6)}`,
  dan: `usr_${hex(7)}`,
  grace: `usr_${hex(8)}`,
  alan: `usr_${hex(9)}`,
};
const at = (second: number) => `2026-11-23T09:00:${String(second).padStart(2, '0')}.000Z`;
const dan = { userId: ids.dan, name: 'Dan Deployer', email: 'dan@example.com', role: 'deployer', createdAt: iso };
const grace = { userId: ids.grace, name: 'Grace Hopper', email: 'grace@example.com', role: 'approver', createdAt: iso };
const alan = { userId: ids.alan, name: 'Alan Turing', email: 'alan@example.com', role: 'approver', createdAt: iso };
const app = { appId: ids.app, name: 'web-api', secure: false, createdAt: iso, updatedAt: iso };
const policy = { enabled: true, approverGroups: [], requiredApprovals: 2, preventSelfApproval: true, windowHours: 72 };
const prod = { environmentId: ids.prod, name: 'production', approval: policy, variables: {}, createdAt: iso, updatedAt: iso };
const staging = { ...prod, environmentId: ids.staging, name: 'staging' };
const release = (releaseId: string, version: string, state: 'ready' | 'uploading' = 'ready'): ReleaseView => ({
  releaseId, appId: ids.app, version, state, encrypted: false, size: 2048, createdBy: ids.dan, createdAt: iso, ...(state === 'ready' ? { completedAt: iso, digest: 'a'.repeat(64) } : {}),
});
const page = (items: unknown[]) => () => ({ body: { items } });

const pending: DeploymentView = {
  deploymentId: ids.dep,
  appId: ids.app,
  appName: 'web-api',
  releaseId: ids.release,
  releaseVersion: '1.4.2',
  releaseDigest: 'a'.repeat(64),
  encrypted: false,
  environmentId: ids.prod,
  environmentName: 'production',
  deployerId: ids.dan,
  state: 'PendingApproval',
  requiredApprovals: 2,
  votes: [],
  createdAt: at(0),
  updatedAt: at(0),
  expiresAt: '2026-11-26T09:00:00.000Z',
  history: [{ at: at(0), from: null, to: 'PendingApproval', by: ids.dan }],
};
const vote1 = { userId: ids.grace, at: at(5), deploy: false, comment: 'looks good' };
const vote2 = { userId: ids.alan, at: at(9), deploy: true };
const oneVote: DeploymentView = { ...pending, votes: [vote1], updatedAt: at(5) };
const inProgress: DeploymentView = {
  ...pending,
  state: 'InProgress',
  votes: [vote1, vote2],
  history: [...pending.history, { at: at(9), from: 'PendingApproval', to: 'InProgress', by: ids.alan }],
};
const succeeded: DeploymentView = {
  ...inProgress,
  state: 'Succeeded',
  outcome: { at: at(20) },
  history: [...inProgress.history, { at: at(20), from: 'InProgress', to: 'Succeeded', by: 'system' }],
};
const failed: DeploymentView = {
  ...inProgress,
  state: 'Failed',
  outcome: { at: at(20), reason: 'target t-1 did not answer' },
  history: [...inProgress.history, { at: at(20), from: 'InProgress', to: 'Failed', by: 'system' }],
};
const declined: DeploymentView = {
  ...pending,
  state: 'Declined',
  declined: { userId: ids.grace, at: at(7), message: 'Change freeze until Monday' },
  history: [...pending.history, { at: at(7), from: 'PendingApproval', to: 'Declined', by: ids.grace }],
};

/** Answers GET /deployments/{id} with each scripted value in turn, repeating the last. */
const scripted = (...replies: (DeploymentView | { status: number; body: unknown })[]) => {
  let i = 0;
  return () => {
    const reply = replies[Math.min(i, replies.length - 1)]!;
    i += 1;
    return 'deploymentId' in reply ? { body: reply } : reply;
  };
};

/** A fake clock for the watch loop: sleeps return at once and are counted. */
const fakeTimers = () => {
  const sleeps: number[] = [];
  let handler: (() => void) | undefined;
  let unsubscribed = false;
  return {
    sleeps,
    interrupt: () => handler?.(),
    get subscribed() {
      return handler !== undefined && !unsubscribed;
    },
    io: (isTTY = false, onSleep?: (n: number) => void) => ({
      isTTY,
      columns: 200,
      sleep: async (ms: number) => {
        sleeps.push(ms);
        onSleep?.(sleeps.length);
      },
      onInterrupt: (h: () => void) => {
        handler = h;
        unsubscribed = false;
        return () => void (unsubscribed = true);
      },
    }),
  };
};

/** The owner's machine, deploying: the owner key here, the owner's statements and the releases' signed manifests at the fake API. */
const deployWorld = () =>
  signingWorld(fakeOwnerMe, {
    environments: [
      { environmentId: ids.prod, name: 'production' },
      { environmentId: ids.staging, name: 'staging' },
    ],
  });
const releases = [{ appId: ids.app, releaseId: ids.release, version: '1.4.2' }];
const posted = (api: ReturnType<typeof fakeApi>) => api.requests.find((r) => r.method === 'POST' && r.path === '/deployments')!.body as { intent: { intent: Record<string, unknown>; signature: string } };

describe('latchkey deploy', () => {
  it('resolves APP, RELEASE (by version) and ENV by name, then posts the ids with the signed intent and says what happens next', async () => {
    // Prepare
    const world = await deployWorld();
    const api = fakeApi({
      'GET /apps': page([app]),
      [`GET /apps/${ids.app}/releases`]: page([release(ids.release, '1.4.2'), release(ids.oldRelease, '1.4.1')]),
      'GET /environments': page([staging, prod]),
      'POST /deployments': () => ({ status: 201, body: pending }),
      'GET /users': page([dan, grace]),
      ...world.routes(releases),
    });

    // Act
    const result = await runCli(['deploy', 'web-api', '1.4.2', 'production'], api, { env: world.env });

    // Assess
    expect(result.code, result.stderr).toBe(0);
    expect(api.ownCalls()).toEqual(['GET /apps', `GET /apps/${ids.app}/releases`, 'GET /environments', `GET /apps/${ids.app}/releases/${ids.release}`, 'POST /deployments', 'GET /users']);
    const body = posted(api);
    expect(body).toMatchObject({ appId: ids.app, releaseId: ids.release, environmentId: ids.prod });
    // The intent: this release by its manifest, to this environment under its statement version, signed with the owner key here.
    expect(body.intent.intent).toMatchObject({ appId: ids.app, releaseId: ids.release, environmentId: ids.prod, environmentVersion: 1, deployerId: fakeOwnerMe.user.userId });
    expect(intentSignatureVerifies(world.owner.publicKey, body.intent as never)).toBe(true);
    expect(result.stdout).toContain(`Deployment ${ids.dep}: web-api 1.4.2 to production, PendingApproval.`);
    expect(result.stdout).toContain('Waiting for 2 approvals; approvers were emailed');
    expect(result.stdout).toContain(`latchkey status ${ids.dep} --watch`);
  });

  it('passes ids through without listing, and --json prints the deployment only', async () => {
    const world = await deployWorld();
    const api = fakeApi({ 'POST /deployments': () => ({ status: 201, body: pending }), ...world.routes(releases) });
    const result = await runCli(['deploy', ids.app, ids.release, ids.prod, '--json'], api, { env: world.env });
    expect(result.code, result.stderr).toBe(0);
    expect(api.ownCalls()).toEqual([`GET /apps/${ids.app}/releases/${ids.release}`, 'POST /deployments']);
    expect(JSON.parse(result.stdout)).toEqual(pending);
  });

  it('prefers the ready release when a version was pushed twice, and refuses one that is not ready', async () => {
    const world = await deployWorld();
    const api = fakeApi({
      [`GET /apps/${ids.app}/releases`]: page([release(ids.oldRelease, '2.0.0', 'uploading'), release(ids.release, '1.4.2'), release(`rel_${hex(10)}`, '1.4.2', 'uploading')]),
      'POST /deployments': () => ({ status: 201, body: pending }),
      ...world.routes(releases),
    });
    const ok = await runCli(['deploy', ids.app, '1.4.2', ids.prod, '--json'], api, { env: world.env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(posted(api)).toMatchObject({ releaseId: ids.release });

    const notReady = await runCli(['deploy', ids.app, '2.0.0', ids.prod], api, { env: world.env });
    expect(notReady.code).toBe(1);
    expect(notReady.stderr).toContain('Release 2.0.0 of');
    expect(notReady.stderr).toContain('not ready');
    const unknown = await runCli(['deploy', ids.app, '9.9.9', ids.prod], api, { env: world.env });
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('has no release "9.9.9"');
    expect(unknown.stderr).toContain('latchkey releases list');
    expect(api.calls().filter((c) => c === 'POST /deployments')).toHaveLength(1);
  });

  it('with a deployment id alone starts the approved deployment', async () => {
    const api = fakeApi({ [`POST /deployments/${ids.dep}/deploy`]: () => ({ body: inProgress }), 'GET /users': page([dan]) });
    const result = await runCli(['deploy', ids.dep], api);
    expect(result.code).toBe(0);
    expect(api.calls()[0]).toBe(`POST /deployments/${ids.dep}/deploy`);
    expect(result.stdout).toContain('Deploying web-api 1.4.2 to production');
  });

  it('with too few arguments is a usage error that sends nothing', async () => {
    const api = fakeApi({});
    for (const argv of [['deploy'], ['deploy', 'web-api'], ['deploy', 'web-api', '1.4.2'], ['deploy', 'a', 'b', 'c', 'd']]) {
      expect((await runCli(argv, api)).code, argv.join(' ')).toBe(2);
    }
    expect(api.requests).toEqual([]);
  });

  it('a refusal by the API (409: release not complete) exits 1 with its title', async () => {
    const world = await deployWorld();
    const api = fakeApi({ 'POST /deployments': () => problem(409, 'The release is not complete'), ...world.routes(releases) });
    const result = await runCli(['deploy', ids.app, ids.release, ids.prod], api, { env: world.env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('Error: The release is not complete');
  });
});

describe('latchkey approve, decline, cancel', () => {
  it('approve sends deploy: false by default, and --deploy --comment as given (a deployment without an intent: an unsigned vote)', async () => {
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: () => ({ body: pending }), [`POST /deployments/${ids.dep}/approve`]: () => ({ body: oneVote }), 'GET /users': page([dan, grace]) });
    const plain = await runCli(['approve', ids.dep], api);
    const full = await runCli(['approve', ids.dep, '--deploy', '--comment', 'Checked the plan', '--json'], api);
    expect(plain.code).toBe(0);
    expect(full.code).toBe(0);
    const posts = api.requests.filter((r) => r.method === 'POST');
    expect(posts.map((r) => r.body)).toEqual([{ deploy: false }, { deploy: true, comment: 'Checked the plan' }]);
    expect(plain.stdout).toContain('1 of 2 approvals');
    expect(plain.stdout).toContain('Waiting for 1 more approval (1 of 2)');
    expect(JSON.parse(full.stdout).votes).toHaveLength(1);
  });

  it('approve refused (403: self-approval) exits 1; a malformed id exits 2 before sending', async () => {
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: () => ({ body: pending }), [`POST /deployments/${ids.dep}/approve`]: () => problem(403, 'You started this deployment, so someone else must approve it') });
    const refused = await runCli(['approve', ids.dep], api);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('someone else must approve it');
    const bad = await runCli(['approve', 'dep_nothex'], api);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('field: id');
    expect(api.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('decline requires a non-empty --message (exit 2, nothing sent) and posts it', async () => {
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: () => ({ body: pending }), [`POST /deployments/${ids.dep}/decline`]: () => ({ body: declined }) });
    expect((await runCli(['decline', ids.dep], api)).code).toBe(2);
    const blank = await runCli(['decline', ids.dep, '--message', '  '], api);
    expect(blank.code).toBe(2);
    expect(blank.stderr).toContain('a decline needs a message');
    expect(api.requests).toEqual([]);

    const result = await runCli(['decline', ids.dep, '--message', 'Change freeze until Monday'], api);
    expect(result.code).toBe(0);
    expect(api.requests.find((r) => r.method === 'POST')!.body).toEqual({ message: 'Change freeze until Monday' });
    expect(result.stdout).toContain(`Declined ${ids.dep}`);
  });

  it('cancel posts with no body; a 5xx exits 3', async () => {
    const canceled = { ...pending, state: 'Canceled', canceled: { userId: ids.dan, at: at(3) } };
    const ok = fakeApi({ [`POST /deployments/${ids.dep}/cancel`]: () => ({ body: canceled }) });
    const result = await runCli(['cancel', ids.dep], ok);
    expect(result.code).toBe(0);
    expect(ok.requests[0]).toMatchObject({ method: 'POST', body: undefined });
    expect(result.stdout).toContain(`Canceled ${ids.dep}`);

    const down = fakeApi({ [`POST /deployments/${ids.dep}/cancel`]: () => problem(503, 'Service Unavailable') });
    expect((await runCli(['cancel', ids.dep], down)).code).toBe(3);
  });
});

describe('latchkey status', () => {
  it('without an id lists recent deployments (20 by default) with deployer emails', async () => {
    const keyServers = [
      { agentId: `agt_${hex(21)}`, name: 'ks-a', online: true, versions: [1], holdsCurrent: true },
      { agentId: `agt_${hex(22)}`, name: 'ks-c', online: true, versions: [], holdsCurrent: false },
    ];
    const api = fakeApi({
      'GET /deployments': page([oneVote, { ...succeeded, deploymentId: `dep_${hex(11)}`, environmentName: 'staging' }]),
      'GET /users': page([dan, grace]),
      'GET /master-key': () => ({ body: { version: 1, retiredThrough: 0, keyServers, onlineHolders: 1 } }),
    });
    const result = await runCli(['status'], api);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain(`ks-c (agt_${hex(22)}) has not learned master key v1 yet.`);
    expect(result.stderr).toContain(`Warning: only ks-a (agt_${hex(21)}) holds master key v1 online`);
    expect(api.requests[0]!.query).toEqual({ limit: '20' });
    expect(result.stdout).toMatch(/ID\s+APP\s+RELEASE\s+ENVIRONMENT\s+STATE\s+APPROVALS\s+DEPLOYER\s+STARTED/);
    expect(result.stdout).toMatch(new RegExp(`${ids.dep}\\s+web-api\\s+1\\.4\\.2\\s+production\\s+PendingApproval\\s+1 of 2\\s+dan@example\\.com`));
  });

  it('--env filters by environment id, resolved from its name; --json prints an array', async () => {
    const api = fakeApi({
      'GET /environments': page([staging, prod]),
      'GET /deployments': page([pending]),
      'GET /master-key': () => ({ body: { version: null, retiredThrough: 0, keyServers: [], onlineHolders: 0 } }),
    });
    const result = await runCli(['status', '--env', 'production', '--limit', '5', '--json'], api);
    expect(result.code).toBe(0);
    expect(api.requests.find((r) => r.path === '/deployments')!.query).toEqual({ environmentId: ids.prod, limit: '5' });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([pending]);
    expect(api.calls()).not.toContain('GET /users');
  });

  it('with an id shows the facts, the votes by name and email, the decline message and the history', async () => {
    const both = { ...declined, votes: [vote1] };
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: () => ({ body: both }), 'GET /users': page([dan, grace, alan]) });
    const result = await runCli(['status', ids.dep], api);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/state\s+Declined/);
    expect(result.stdout).toMatch(/started by\s+Dan Deployer <dan@example\.com>/);
    expect(result.stdout).toContain('Grace Hopper <grace@example.com>: "looks good"');
    expect(result.stdout).toMatch(/message\s+Change freeze until Monday/);
    expect(result.stdout).toContain('Declined (by Grace Hopper <grace@example.com>): "Change freeze until Monday"');
    expect(result.stdout).toContain('PendingApproval (started by Dan Deployer <dan@example.com>)');
  });

  it('with an id shows ids when the caller may not list people, and --json passes the deployment through', async () => {
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: () => ({ body: failed }), 'GET /users': () => problem(403, 'no') });
    const human = await runCli(['status', ids.dep], api);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(new RegExp(`started by\\s+${ids.dan}`));
    expect(human.stdout).toMatch(/reason\s+target t-1 did not answer/);
    const json = await runCli(['status', ids.dep, '--json'], api);
    expect(JSON.parse(json.stdout)).toEqual(failed);
  });

  it('refuses --watch without an id, and list options with one (exit 2, nothing sent)', async () => {
    const api = fakeApi({});
    expect((await runCli(['status', '--watch'], api)).code).toBe(2);
    expect((await runCli(['status', ids.dep, '--env', 'production'], api)).code).toBe(2);
    expect(api.requests).toEqual([]);
  });
});

describe('latchkey status --watch', () => {
  it('off a terminal prints one line per event, polls once a second, and exits 0 on Succeeded', async () => {
    // Prepare
    const timers = fakeTimers();
    const api = fakeApi({
      [`GET /deployments/${ids.dep}`]: scripted(pending, pending, oneVote, inProgress, inProgress, succeeded),
      'GET /users': page([dan, grace, alan]),
    });

    // Act
    const result = await runCli(['status', ids.dep, '--watch'], api, { io: timers.io() });

    // Assess
    expect(result.code).toBe(0);
    expect(api.calls().filter((c) => c.startsWith('GET /deployments'))).toHaveLength(6);
    expect(timers.sleeps).toEqual([1000, 1000, 1000, 1000, 1000]);
    expect(result.stdout.trimEnd().split('\n')).toEqual([
      '2026-11-23 09:00:00Z  PendingApproval (started by Dan Deployer <dan@example.com>)',
      '2026-11-23 09:00:05Z  Grace Hopper <grace@example.com> approved: "looks good"',
      '2026-11-23 09:00:09Z  Alan Turing <alan@example.com> approved (and deploy)',
      '2026-11-23 09:00:09Z  InProgress (by Alan Turing <alan@example.com>)',
      '2026-11-23 09:00:20Z  Succeeded',
    ]);
    expect(result.stdout).not.toContain('\u001b[');
    expect(timers.subscribed).toBe(false);
  });

  it('exits 1 when the deployment fails, is declined, canceled or expires, saying why', async () => {
    const canceled = { ...pending, state: 'Canceled' as const, canceled: { userId: ids.dan, at: at(3) } };
    const expired = { ...pending, state: 'Expired' as const };
    for (const [end, why] of [
      [failed, 'failed: target t-1 did not answer'],
      [declined, 'Declined by Grace Hopper <grace@example.com>: "Change freeze until Monday"'],
      [canceled, 'Canceled by Dan Deployer <dan@example.com>'],
      [expired, 'Expired: no decision was made'],
    ] as const) {
      const api = fakeApi({ [`GET /deployments/${ids.dep}`]: scripted(pending, end), 'GET /users': page([dan, grace]) });
      const result = await runCli(['status', ids.dep, '--watch'], api, { io: fakeTimers().io() });
      expect(result.code, end.state).toBe(1);
      expect(result.stderr).toContain(`Error: Deployment ${ids.dep} did not succeed`);
      expect(result.stderr).toContain(why);
    }
  });

  it('a deployment already at its end needs no polling', async () => {
    const timers = fakeTimers();
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: () => ({ body: succeeded }), 'GET /users': page([]) });
    const result = await runCli(['status', ids.dep, '--watch'], api, { io: timers.io() });
    expect(result.code).toBe(0);
    expect(timers.sleeps).toEqual([]);
  });

  it('on a terminal redraws the whole view in place, and the last frame has no footer', async () => {
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: scripted(pending, oneVote, succeeded), 'GET /users': page([dan, grace, alan]) });
    const result = await runCli(['status', ids.dep, '--watch'], api, { io: fakeTimers().io(true) });
    expect(result.code).toBe(0);
    const visible = result.stdout.replaceAll('\u001b', '<ESC>');
    const frames = visible.split(/<ESC>\[\d+A\r<ESC>\[J/);
    expect(frames).toHaveLength(3);
    expect(frames[0]).toMatch(/state\s+PendingApproval/);
    expect(frames[0]).toContain('Ctrl-C stops watching');
    expect(frames[1]).toMatch(/approvals\s+1 of 2 required/);
    expect(frames[2]).toMatch(/state\s+Succeeded/);
    expect(frames[2]).not.toContain('Watching');
    // Each redraw moves up exactly over the frame before it.
    const ups = [...visible.matchAll(/<ESC>\[(\d+)A/g)].map((m) => Number(m[1]));
    expect(ups).toEqual([frames[0]!.split('\n').length - 1, frames[1]!.split('\n').length - 1]);
  });

  it('with --json prints one JSON line per change', async () => {
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: scripted(pending, pending, oneVote, oneVote, succeeded) });
    const result = await runCli(['status', ids.dep, '--watch', '--json'], api, { io: fakeTimers().io(true) });
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((d) => d.state)).toEqual(['PendingApproval', 'PendingApproval', 'Succeeded']);
    expect(lines[1].votes).toHaveLength(1);
    expect(api.calls()).not.toContain('GET /users');
  });

  it('retries a poll that failed for a transient reason, but not a refusal', async () => {
    const down = { status: 503, body: { title: 'Service Unavailable', status: 503 } };
    const flaky = fakeApi({ [`GET /deployments/${ids.dep}`]: scripted(pending, down, down, succeeded), 'GET /users': page([]) });
    const recovered = await runCli(['status', ids.dep, '--watch'], flaky, { io: fakeTimers().io() });
    expect(recovered.code).toBe(0);
    expect(recovered.stderr).toContain('Warning: Service Unavailable; retrying');

    const dead = fakeApi({ [`GET /deployments/${ids.dep}`]: scripted(pending, down), 'GET /users': page([]) });
    const gaveUp = await runCli(['status', ids.dep, '--watch'], dead, { io: fakeTimers().io() });
    expect(gaveUp.code).toBe(3);
    expect(dead.calls().filter((c) => c.startsWith('GET /deployments'))).toHaveLength(1 + MAX_POLL_FAILURES);

    const gone = fakeApi({ [`GET /deployments/${ids.dep}`]: scripted(pending, { status: 404, body: { title: 'No such deployment', status: 404 } }), 'GET /users': page([]) });
    const refused = await runCli(['status', ids.dep, '--watch'], gone, { io: fakeTimers().io() });
    expect(refused.code).toBe(1);
    expect(gone.calls().filter((c) => c.startsWith('GET /deployments'))).toHaveLength(2);
  });

  it('Ctrl-C stops watching at once with exit 130, says the deployment goes on, and lets go of SIGINT', async () => {
    const timers = fakeTimers();
    const api = fakeApi({ [`GET /deployments/${ids.dep}`]: () => ({ body: pending }), 'GET /users': page([]) });
    const io = timers.io(false, (n) => {
      if (n === 3) timers.interrupt();
    });
    // The third sleep never ends by itself: only the interrupt can end the watch.
    const sleep = async (ms: number) => {
      await io.sleep(ms);
      if (timers.sleeps.length >= 3) await new Promise(() => {});
    };
    const result = await runCli(['status', ids.dep, '--watch'], api, { io: { ...io, sleep } });
    expect(result.code).toBe(130);
    expect(result.stderr).toContain(`Stopped watching ${ids.dep}; it is PendingApproval and goes on without you`);
    expect(result.stderr).not.toContain('Error');
    expect(timers.subscribed).toBe(false);
  });

  it('deploy --watch follows the new deployment to its end', async () => {
    const world = await deployWorld();
    const api = fakeApi({
      'POST /deployments': () => ({ status: 201, body: inProgress }),
      [`GET /deployments/${ids.dep}`]: scripted(inProgress, succeeded),
      'GET /users': page([]),
      ...world.routes(releases),
    });
    const result = await runCli(['deploy', ids.app, ids.release, ids.staging, '--watch'], api, { io: fakeTimers().io(), env: world.env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Succeeded');
  });
});

describe('latchkey releases list', () => {
  it('resolves the application and shows its newest 20 releases', async () => {
    const api = fakeApi({ 'GET /apps': page([app]), [`GET /apps/${ids.app}/releases`]: page([release(ids.release, '1.4.2'), release(ids.oldRelease, '1.4.3', 'uploading')]) });
    const result = await runCli(['releases', 'list', 'web-api'], api);
    expect(result.code).toBe(0);
    expect(api.requests[1]!.query).toEqual({ limit: '20' });
    expect(result.stdout).toMatch(/ID\s+VERSION\s+STATE\s+ENCRYPTED\s+SIZE\s+CREATED\s+COMPLETED/);
    expect(result.stdout).toMatch(new RegExp(`${ids.release}\\s+1\\.4\\.2\\s+ready\\s+no\\s+2\\.0 KiB`));
    expect(result.stdout).toMatch(new RegExp(`${ids.oldRelease}\\s+1\\.4\\.3\\s+uploading`));
  });

  it('says so when there are none, and an unknown app exits 1', async () => {
    const api = fakeApi({ 'GET /apps': page([app]), [`GET /apps/${ids.app}/releases`]: page([]) });
    expect((await runCli(['releases', 'list', 'web-api'], api)).stdout).toContain('No releases of web-api yet.');
    expect((await runCli(['releases', 'list', 'nope'], api)).code).toBe(1);
  });
});

describe('help', () => {
  it('every new command has examples, and the exit codes of --watch are documented', async () => {
    for (const command of ['deploy', 'approve', 'decline', 'cancel', 'status']) {
      const help = await runCli([command, '--help'], fakeApi({}));
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toContain('Examples:');
    }
    expect((await runCli(['releases', 'list', '--help'], fakeApi({}))).stdout).toContain('Examples:');
    expect((await runCli(['--help'], fakeApi({}))).stdout).toContain('130 when you stop watching');
  });
});

describe('pure helpers', () => {
  it('pickRelease: id, then ready version; ambiguous is usage, unknown or unready is refused', () => {
    const releases = [release(ids.release, '1.0'), release(ids.oldRelease, '1.0'), release(`rel_${hex(12)}`, '2.0', 'uploading')];
    expect(pickRelease(releases, ids.oldRelease, 'web-api').releaseId).toBe(ids.oldRelease);
    expect(() => pickRelease(releases, '1.0', 'web-api')).toThrow(UsageError);
    expect(() => pickRelease(releases, '2.0', 'web-api')).toThrow(RefusedError);
    expect(() => pickRelease(releases, '3.0', 'web-api')).toThrow(/no release "3.0"/);
  });

  it('timeline puts a vote before the change it caused, and keys stay stable', () => {
    const events = timeline(inProgress);
    expect(events.map((e) => e.key)).toEqual(['state:0', `vote:${ids.grace}`, `vote:${ids.alan}`, 'state:1']);
    expect(timeline(succeeded).slice(0, 4)).toEqual(events);
  });

  it('nextStep names the command to run next', () => {
    expect(nextStep(pending, new Map(), { justCreated: true })).toMatch(/^Waiting for 2 approvals; approvers were emailed/);
    expect(nextStep({ ...oneVote, state: 'Approved' })).toContain(`latchkey deploy ${ids.dep}`);
    expect(nextStep(inProgress)).toContain('--watch');
    expect(nextStep({ ...pending, requiredApprovals: 1 })).toMatch(/^Waiting for 1 approval,/);
  });

  it('formatDeployment and timeline show each target: pending, succeeded with its current release, failed with its output tail', () => {
    const failedTarget = `agt_${hex(20)}`;
    const goodTarget = `agt_${hex(21)}`;
    const waitingTarget = `agt_${hex(22)}`;
    const output = ['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'mv: cannot stat secret.cred.prod'].join('\n');
    const deploying: DeploymentView = {
      ...inProgress,
      targets: [
        { agentId: goodTarget, outcome: 'succeeded', at: at(20), current: '1.4.2' },
        { agentId: failedTarget, outcome: 'failed', at: at(21), code: 'ScriptFailed', message: 'postInstall exited 1', output },
        { agentId: waitingTarget, outcome: 'pending' },
      ],
    };
    const text = formatDeployment(deploying);
    expect(text).toContain(`${goodTarget}  succeeded (current: 1.4.2)`);
    expect(text).toContain(`${failedTarget}  failed: postInstall exited 1`);
    expect(text).toContain('| mv: cannot stat secret.cred.prod');
    expect(text).toContain('| line 3');
    expect(text).not.toContain('| line 2');
    expect(text).toContain(`${waitingTarget}  pending`);
    expect(timeline(deploying).map((e) => e.key)).toEqual(['state:0', `vote:${ids.grace}`, `vote:${ids.alan}`, 'state:1', `target:${goodTarget}`, `target:${failedTarget}`]);
  });

  it('formatDeployment makes control characters in other people\'s text harmless', () => {
    const text = formatDeployment({ ...declined, declined: { ...declined.declined!, message: 'no\u001b[2Jway' } });
    expect(text).not.toContain('\u001b');
    expect(text).toContain('no?[2Jway');
  });

  it('rowsOf counts wrapped lines; eraseRows moves up and clears', () => {
    expect(rowsOf('abc\nde\n', 80)).toBe(3);
    expect(rowsOf(`${'x'.repeat(100)}\n`, 40)).toBe(4);
    expect(eraseRows(3)).toBe('\u001b[3A\r\u001b[J');
    expect(eraseRows(0)).toBe('');
  });
});
