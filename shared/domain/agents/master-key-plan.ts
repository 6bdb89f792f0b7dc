import { canonicalJson } from '#shared/protocol/canonical-json.ts';

/**
 * What the backend asks of key servers so that no master key is lost while any holder lives
 * (DESIGN §5, §6), decided from a snapshot and nothing else: pure, so its rules are tested as
 * properties (test/unit/agents/master-key-plan.test.ts) and the store only runs the decision.
 *
 * The rules:
 *   1. A request that was answered is done; one that was refused, not acknowledged within
 *      `ackSeconds`, or acknowledged but not answered within `answerSeconds` is given up, and the
 *      key server asked is passed over for that purpose next time. Once every candidate was, the
 *      purpose rests for `answerSeconds` before they all get another turn (a refusal is
 *      permanent until something changes: asking again at every heartbeat would only flood the
 *      audit trail).
 *   2. A master key is made when none exists and two key servers are enrolled; and again when no
 *      online key server holds the current version, or when the current version was retired
 *      (a key server holding it was removed). The maker is an online key server; every enrolled
 *      key server gets a copy. A version number is never asked for twice, so a maker that was
 *      given up on but answers late can never split one version into two keys.
 *   3. Every enrolled key server that lacks a version some online key server holds is sent a copy
 *      by one of those holders (newcomers learn the keys, whatever the timing of deaths).
 *   4. At most one request is out per purpose: making a key, or one version for one key server.
 */

export type MasterJob = {
  kind: 'create' | 'share';
  requestId: string;
  version: number;
  /** The key server asked. */
  agentId: string;
  /** share: the one key server that learns the version; create: every key server given a copy. */
  recipients: string[];
  sentAt: string;
};

export type MasterKeyState = {
  /** Optimistic lock: the state is written only over the revision it was read at. */
  revision: number;
  /** Versions at or below this take no new releases: a key server holding them was removed. */
  retiredThrough: number;
  /** The highest version ever asked for. */
  highestAsked: number;
  jobs: MasterJob[];
  /** Key servers given up on, per purpose (`create`, `share:<version>:<agent>`). */
  passedOver: Record<string, string[]>;
  /** Purposes every candidate was given up on, resting until the time given. */
  resting?: Record<string, string>;
};

export const emptyMasterKeyState = (): MasterKeyState => ({ revision: 0, retiredThrough: 0, highestAsked: 0, jobs: [], passedOver: {} });

export type RequestProgress = { state: 'pending' | 'done' | 'failed'; acknowledgedAt?: string | undefined };

export type PlanInput = {
  now: Date;
  /** Enrolled key servers, removed ones left out. */
  keyServers: readonly { agentId: string; online: boolean }[];
  /** Which key server holds which version (read after `progress`, so a job seen done is in it). */
  wraps: readonly { agentId: string; version: number }[];
  state: MasterKeyState;
  progress: (requestId: string) => RequestProgress | undefined;
  settings: { ackSeconds: number; answerSeconds: number };
  /** One of a non-empty list, at random. */
  pick: <T>(items: readonly T[]) => T;
  newRequestId: () => string;
};

/** A request given up on; `unresponsive` when the key server never took it (it counts as offline until its next heartbeat). */
export type Abandoned = { job: MasterJob; reason: string; unresponsive?: boolean };

export type Plan = {
  /** The state to write (revision unchanged: the writer bumps it). */
  state: MasterKeyState;
  /** Requests given up on: close them, so a late answer is not taken. */
  abandon: Abandoned[];
  /** Requests to send, already in `state.jobs`. */
  ask: MasterJob[];
  /** False when there is nothing to write. */
  changed: boolean;
};

export const purposeOf = (job: Pick<MasterJob, 'kind' | 'version' | 'recipients'>) => (job.kind === 'create' ? 'create' : `share:${job.version}:${job.recipients[0]}`);

/** The version new releases are sealed under, if there is one: the highest, unless it was retired. */
export const sealingVersion = (state: Pick<MasterKeyState, 'retiredThrough'>, versions: readonly number[]) => {
  const current = Math.max(0, ...versions);
  return current > state.retiredThrough ? current : undefined;
};

export const planMasterKeyWork = (input: PlanInput): Plan => {
  const { now, keyServers, wraps, state, settings } = input;
  const enrolled = new Set(keyServers.map((k) => k.agentId));
  const onlineIds = keyServers.filter((k) => k.online).map((k) => k.agentId);
  const holds = (agentId: string, version: number) => wraps.some((w) => w.agentId === agentId && w.version === version);
  const versions = [...new Set(wraps.map((w) => w.version))].sort((a, b) => a - b);
  const current = Math.max(0, ...versions);
  const passedOver: Record<string, string[]> = Object.fromEntries(Object.entries(state.passedOver).map(([k, v]) => [k, [...v]]));
  const resting: Record<string, string> = { ...state.resting };
  const passOver = (purpose: string, agentId: string) => {
    passedOver[purpose] = [...new Set([...(passedOver[purpose] ?? []), agentId])];
  };

  // 1. Follow up the requests out.
  const jobs: MasterJob[] = [];
  const abandon: Abandoned[] = [];
  const giveUp = (job: MasterJob, reason: string, unresponsive = false) => {
    abandon.push({ job, reason, ...(unresponsive ? { unresponsive } : {}) });
    passOver(purposeOf(job), job.agentId);
  };
  for (const job of state.jobs) {
    const progress = input.progress(job.requestId);
    const purpose = purposeOf(job);
    if (progress?.state === 'done') {
      delete passedOver[purpose];
      continue;
    }
    if (progress?.state === 'failed') {
      passOver(purpose, job.agentId);
      continue;
    }
    if (!enrolled.has(job.agentId)) {
      giveUp(job, `key server ${job.agentId} was removed`);
      continue;
    }
    if (job.kind === 'share' && !enrolled.has(job.recipients[0]!)) {
      giveUp(job, `key server ${job.recipients[0]} was removed`);
      continue;
    }
    const ackedAt = progress?.acknowledgedAt;
    if (!ackedAt && now.getTime() - Date.parse(job.sentAt) > settings.ackSeconds * 1000) {
      giveUp(job, `NotAcknowledged: key server ${job.agentId} did not take the request within ${settings.ackSeconds} s`, true);
      continue;
    }
    if (ackedAt && now.getTime() - Date.parse(ackedAt) > settings.answerSeconds * 1000) {
      giveUp(job, `NotAnswered: key server ${job.agentId} took the request but did not answer within ${settings.answerSeconds} s`);
      continue;
    }
    jobs.push(job);
  }

  const outstanding = (purpose: string) => jobs.some((job) => purposeOf(job) === purpose);
  /** A candidate not passed over for this purpose; when every one was, they all get another turn after a rest. */
  const choose = (purpose: string, candidates: readonly string[]) => {
    if (candidates.length === 0) return undefined;
    let fresh = candidates.filter((c) => !passedOver[purpose]?.includes(c));
    if (fresh.length === 0) {
      const until = resting[purpose];
      if (!until) resting[purpose] = new Date(now.getTime() + settings.answerSeconds * 1000).toISOString();
      if (!until || Date.parse(until) > now.getTime()) return undefined;
      delete passedOver[purpose];
      delete resting[purpose];
      fresh = [...candidates];
    }
    return input.pick(fresh);
  };
  const onlineHolders = (version: number) => onlineIds.filter((id) => holds(id, version));
  const ask: MasterJob[] = [];
  const send = (job: Omit<MasterJob, 'requestId' | 'sentAt'>) => {
    const full = { ...job, requestId: input.newRequestId(), sentAt: now.toISOString() };
    jobs.push(full);
    ask.push(full);
  };

  // 2. Make a master key when none can take new releases.
  let highestAsked = state.highestAsked;
  const needsKey = current === 0 ? keyServers.length >= 2 : current <= state.retiredThrough || onlineHolders(current).length === 0;
  if (needsKey && !outstanding('create')) {
    const maker = choose('create', onlineIds);
    if (maker) {
      highestAsked = Math.max(current, highestAsked, state.retiredThrough) + 1;
      send({ kind: 'create', version: highestAsked, agentId: maker, recipients: keyServers.map((k) => k.agentId) });
    }
  }
  if (!needsKey) {
    delete passedOver.create;
    delete resting.create;
  }

  // 3. Every key server learns every version an online key server can give it.
  for (const version of versions) {
    const sources = onlineHolders(version);
    for (const { agentId } of keyServers) {
      const purpose = `share:${version}:${agentId}`;
      if (holds(agentId, version)) {
        delete passedOver[purpose];
        delete resting[purpose];
        continue;
      }
      if (outstanding(purpose)) continue;
      const holder = choose(purpose, sources);
      if (holder) send({ kind: 'share', version, agentId: holder, recipients: [agentId] });
    }
  }
  // Nothing remembered for key servers that are gone.
  for (const purpose of new Set([...Object.keys(passedOver), ...Object.keys(resting)])) {
    const recipient = purpose.split(':')[2];
    if (recipient && !enrolled.has(recipient)) {
      delete passedOver[purpose];
      delete resting[purpose];
    }
  }

  const next: MasterKeyState = {
    revision: state.revision,
    retiredThrough: state.retiredThrough,
    highestAsked,
    jobs,
    passedOver,
    ...(Object.keys(resting).length ? { resting } : {}),
  };
  return { state: next, abandon, ask, changed: canonicalJson(next) !== canonicalJson(state) };
};
