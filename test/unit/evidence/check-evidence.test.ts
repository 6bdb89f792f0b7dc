import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { checkEvidence, EvidenceRefused, type EvidenceCode } from '#shared/domain/evidence/check-evidence.ts';
import { signIntent, type DeploymentEvidence } from '#shared/protocol/deployment-evidence.ts';
import { pinKey, pinned } from '#shared/protocol/statements.ts';
import { toB64 } from '#shared/protocol/trust.ts';
import { evidenceFixture } from './fixture.ts';

type F = ReturnType<typeof evidenceFixture>;

const check = (f: F, evidence: DeploymentEvidence, overrides: { pins?: Record<string, number>; encrypted?: boolean; now?: number } = {}) =>
  checkEvidence({ ownerKey: f.owner.publicKey, evidence, expect: { ...f.expect, encrypted: overrides.encrypted ?? true }, pins: overrides.pins ?? {}, now: overrides.now ?? f.now });

const refusal = async (run: () => Promise<unknown>): Promise<{ code: EvidenceCode; message: string }> => {
  try {
    await run();
  } catch (error) {
    if (error instanceof EvidenceRefused) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal, the evidence was accepted');
};

describe('checkEvidence: what key servers and targets accept', () => {
  it('accepts complete evidence: the owner’s statements, the deployer’s intent, one eligible signed approval', async () => {
    const f = evidenceFixture();
    const verdict = await check(f, f.evidence());
    expect(verdict).toMatchObject({ approvals: 'signed', approvers: [f.people.approver.userId], deployer: { userId: f.people.deployer.userId }, pusher: { userId: f.people.deployer.userId } });
    expect(verdict.evidenceHash).toMatch(/^[0-9a-f]{64}$/);
    expect((await check(f, f.evidence())).evidenceHash).toBe(verdict.evidenceHash);
  });

  // Each case makes complete evidence wrong in one way; each is an attack a compromised backend could try.
  const cases: [string, EvidenceCode, (f: F) => { evidence: DeploymentEvidence; pins?: Record<string, number>; encrypted?: boolean; now?: number }][] = [
    ['an environment statement signed by another key (the backend changed the approvers)', 'NotOwnerSigned', (f) => ({ evidence: f.evidence({ environment: f.sign({ ...f.environment, approval: { ...f.environment.approval, count: 1, approvers: [f.people.outsider.userId] } }, generateRawKeyPair('ed25519').privateKey) }) })],
    ['an environment statement edited after signing', 'NotOwnerSigned', (f) => ({ evidence: f.evidence({ environment: { ...f.sign(f.environment), statement: { ...f.environment, variables: { NODE_OPTIONS: '--import=evil' } } } }) })],
    ['an older environment statement than one already seen', 'RolledBack', (f) => ({ evidence: f.evidence(), pins: { [pinKey(f.environment)]: 4 } })],
    ['an application made plain again, shown as an older statement', 'RolledBack', (f) => ({ evidence: f.evidence({ application: f.sign({ ...f.application, secure: false, version: 1 }) }), pins: { [pinKey(f.application)]: 2 } })],
    ['a plain release of a secure application', 'PlainReleaseOfSecureApp', (f) => ({ evidence: f.evidence(), encrypted: false })],
    ['an intent for another deployment', 'IntentMismatch', (f) => ({ evidence: f.evidence({ intent: signIntent(f.keys[f.people.deployer.userId]!.privateKey, { ...f.intent, deploymentId: `dep_${'f'.repeat(32)}` }) }) })],
    ['an intent for another release manifest (approvers were shown another release)', 'IntentMismatch', (f) => ({ evidence: f.evidence({ intent: signIntent(f.keys[f.people.deployer.userId]!.privateKey, { ...f.intent, manifestHash: 'a'.repeat(64) }) }) })],
    ['an expired intent (an old deployment replayed to roll back)', 'IntentExpired', (f) => ({ evidence: f.evidence(), now: Date.parse(f.intent.expiresAt) + 1 })],
    ['an intent signed by someone else than the deployer it names', 'IntentNotSigned', (f) => ({ evidence: f.evidence({ intent: signIntent(f.keys[f.people.outsider.userId]!.privateKey, f.intent) }) })],
    ['an intent by a person the environment does not let deploy', 'NotAllowedToDeploy', (f) => ({ evidence: f.evidence({ environment: f.sign({ ...f.environment, deployers: { roles: ['owner'], people: [] } }) }) })],
    ['an intent by a deployer the owner disabled', 'PersonNotActive', (f) => ({ evidence: f.evidence({ people: Object.values(f.people).map((p) => f.sign(p === f.people.deployer ? { ...p, status: 'disabled', version: 2 } : p)) }) })],
    ['a deployer with no owner statement', 'UnknownPerson', (f) => ({ evidence: f.evidence({ people: Object.values(f.people).filter((p) => p !== f.people.deployer).map((p) => f.sign(p)) }) })],
    ['a release signed with a key the owner vouched for in no statement', 'PusherNotVouched', (f) => {
      const people = Object.values(f.people).map((p) => f.sign(p === f.people.deployer ? { ...p, signingKey: f.people.outsider.signingKey } : p === f.people.outsider ? { ...p, signingKey: undefined } : p));
      return { evidence: { ...f.evidence({ people }), intent: signIntent(f.keys[f.people.outsider.userId]!.privateKey, f.intent) } };
    }],
    ['no approval', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ approvals: [] }) })],
    ['an approval by someone who is not an approver of the environment', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ approvals: [f.approval(f.people.outsider)] }) })],
    ['an approval by an approver the owner removed', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ people: Object.values(f.people).map((p) => f.sign(p === f.people.approver ? { ...p, status: 'removed', version: 2 } : p)) }) })],
    ['the deployer approving their own deployment', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ environment: f.sign({ ...f.environment, approval: { ...f.environment.approval, approvers: [...f.environment.approval.approvers, f.people.deployer.userId] } }), approvals: [f.approval(f.people.deployer)] }) })],
    ['the owner approving where the statement does not let the owner approve', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ environment: f.sign({ ...f.environment, approval: { ...f.environment.approval, ownerMayApprove: false } }), approvals: [f.approval(f.people.owner)] }) })],
    ['an approval of another intent (another release, shown to the approver)', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ approvals: [f.approval(f.people.approver, {}, { ...f.intent, releaseId: `rel_${'e'.repeat(32)}` })] }) })],
    ['an approval signed by another key than the approver’s', 'NotEnoughApprovals', (f) => {
      const forged = f.approval(f.people.outsider, { approverId: f.people.approver.userId });
      return { evidence: f.evidence({ approvals: [forged] }) };
    }],
    ['an approval after the window', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ approvals: [f.approval(f.people.approver, { at: new Date(Date.parse(f.intent.createdAt) + 73 * 3600_000).toISOString() })] }) })],
    ['one approval where two are required, counted once however often it is repeated', 'NotEnoughApprovals', (f) => ({ evidence: f.evidence({ environment: f.sign({ ...f.environment, approval: { ...f.environment.approval, count: 2 } }), approvals: [f.approval(f.people.approver), f.approval(f.people.approver, { at: new Date(f.now - 1000).toISOString() })] }) })],
    ['an eligible approver’s signed decline', 'Declined', (f) => ({ evidence: f.evidence({ approvals: [f.approval(f.people.approver2), f.approval(f.people.approver, { decision: 'decline', message: 'change freeze' })] }) })],
  ];

  it.each(cases)('refuses %s (%s)', async (_what, code, make) => {
    const f = evidenceFixture();
    const { evidence, ...overrides } = make(f);
    expect((await refusal(() => check(f, evidence, overrides))).code).toBe(code);
  });

  it('two distinct eligible approvers meet a count of two; the owner counts where the statement allows it', async () => {
    const f = evidenceFixture();
    const two = f.sign({ ...f.environment, approval: { ...f.environment.approval, count: 2 } });
    expect((await check(f, f.evidence({ environment: two, approvals: [f.approval(f.people.approver), f.approval(f.people.approver2)] }))).approvers).toHaveLength(2);
    expect((await check(f, f.evidence({ environment: two, approvals: [f.approval(f.people.approver), f.approval(f.people.owner)] }))).approvers).toHaveLength(2);
  });

  it('eligibility is the newest statement’s: an approver added after the intent counts, one removed does not', async () => {
    const f = evidenceFixture();
    const newer = f.sign({ ...f.environment, version: 4, approval: { ...f.environment.approval, approvers: [f.people.outsider.userId] } });
    expect((await check(f, f.evidence({ environment: newer, approvals: [f.approval(f.people.outsider)] }))).approvers).toEqual([f.people.outsider.userId]);
    expect((await refusal(() => check(f, f.evidence({ environment: newer, approvals: [f.approval(f.people.approver)] })))).code).toBe('NotEnoughApprovals');
  });

  it('an environment that does not require signed approvals takes the backend’s record of eligible approvers, and says so', async () => {
    const f = evidenceFixture();
    const unsigned = f.sign({ ...f.environment, approval: { ...f.environment.approval, signed: false } });
    const at = new Date(f.now).toISOString();
    const verdict = await check(f, f.evidence({ environment: unsigned, approvals: [], backendApprovals: [{ approverId: f.people.approver.userId, decision: 'approve', at }] }));
    expect(verdict.approvals).toBe('backend');
    expect((await refusal(() => check(f, f.evidence({ environment: unsigned, approvals: [], backendApprovals: [{ approverId: f.people.outsider.userId, decision: 'approve', at }] })))).code).toBe('NotEnoughApprovals');
  });

  it('where signatures are not required, a signed approval (an approver whose CLI signs anyway) counts, and the verdict says signed; a bad one does not', async () => {
    const f = evidenceFixture();
    const unsigned = f.sign({ ...f.environment, approval: { ...f.environment.approval, signed: false } });
    // The fixture's one approval is signed by an eligible approver; the backend records none apart.
    expect((await check(f, f.evidence({ environment: unsigned }))).approvals).toBe('signed');
    const [genuine] = f.evidence().approvals;
    const forged = { ...genuine!, signature: toB64(randomBytes(64)) };
    expect((await refusal(() => check(f, f.evidence({ environment: unsigned, approvals: [forged] })))).code).toBe('NotEnoughApprovals');
  });

  it('an environment without approvals needs none, and the statements it saw are the ones to pin', async () => {
    const f = evidenceFixture();
    const open = f.sign({ ...f.environment, approval: { ...f.environment.approval, required: false } });
    const verdict = await check(f, f.evidence({ environment: open, approvals: [] }));
    expect(verdict.approvals).toBe('none');
    const pins = pinned({}, verdict.statements);
    expect(pins[pinKey(f.environment)]).toBe(3);
    expect(pins[pinKey(f.application)]).toBe(2);
  });

  it('any byte changed in any signature refuses the evidence (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('application', 'environment', 'person', 'intent', 'approval'), fc.nat(), fc.integer({ min: 1, max: 255 }), async (part, at, flip) => {
        const f = evidenceFixture();
        const evidence = f.evidence();
        const tamper = (signature: string) => {
          const bytes = Buffer.from(signature, 'base64url');
          const i = at % bytes.length;
          bytes[i] = bytes[i]! ^ flip;
          return bytes.toString('base64url');
        };
        const tampered: DeploymentEvidence =
          part === 'application' ? { ...evidence, application: { ...evidence.application, signature: tamper(evidence.application.signature) } }
          : part === 'environment' ? { ...evidence, environment: { ...evidence.environment, signature: tamper(evidence.environment.signature) } }
          : part === 'person' ? { ...evidence, people: evidence.people.map((p, i) => (i === at % evidence.people.length ? { ...p, signature: tamper(p.signature) } : p)) }
          : part === 'intent' ? { ...evidence, intent: { ...evidence.intent, signature: tamper(evidence.intent.signature) } }
          : { ...evidence, approvals: evidence.approvals.map((a) => ({ ...a, signature: tamper(a.signature) })) };
        // Tampering with the outsider's statement alone still refuses: every statement shown must be the owner's.
        await expect(check(f, tampered)).rejects.toThrow(EvidenceRefused);
      }),
      { numRuns: 200 },
    );
  });
});
