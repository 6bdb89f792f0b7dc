import { describe, expect, it } from 'vitest';
import { checkEvidence, EvidenceRefused } from '#shared/domain/evidence/check-evidence.ts';
import { counterPin } from '#shared/domain/evidence/passkey-approvals.ts';
import { intentHash, passkeyChallenge, type ApprovalStatement, type DeploymentEvidence, type PasskeyApproval } from '#shared/protocol/deployment-evidence.ts';
import { passkeyFingerprint, webOriginOf } from '#shared/protocol/passkeys.ts';
import { softAuthenticator, type SoftAuthenticator } from '../../support/soft-authenticator.ts';
import { evidenceFixture } from './fixture.ts';

const WEB = { origin: 'https://approve.example.com', rpId: 'approve.example.com' };

/** The evidence fixture with the approver's passkey vouched for, and approvals made with it. */
const passkeyFixture = (algorithm: -7 | -8 = -7) => {
  const f = evidenceFixture();
  const authenticator = softAuthenticator(algorithm);
  const credential = authenticator.credential(WEB);
  const approver = { ...f.people.approver, version: 2, passkeys: [credential] };
  const statementOf = (what: ApprovalStatement | Partial<ApprovalStatement> = {}): ApprovalStatement => ({
    v: 1,
    accountId: f.ids.accountId,
    deploymentId: f.ids.deploymentId,
    intentHash: intentHash(f.intent),
    decision: 'approve-and-deploy',
    approverId: approver.userId,
    at: new Date(f.now - 30_000).toISOString(),
    ...what,
  });
  const approve = (what: Partial<ApprovalStatement> = {}, assertion: Partial<Parameters<SoftAuthenticator['assert']>[0]> = {}, by = authenticator): PasskeyApproval => {
    const approval = statementOf(what);
    return { approval, assertion: by.assert({ challenge: passkeyChallenge(approval), ...WEB, ...assertion }) };
  };
  const people = (person = approver) => Object.values(f.people).map((p) => f.sign(p === f.people.approver ? person : p));
  const evidence = (passkeyApprovals: PasskeyApproval[], person = approver): DeploymentEvidence => f.evidence({ people: people(person), approvals: [], passkeyApprovals });
  const check = (e: DeploymentEvidence, pins: Record<string, number> = {}) => checkEvidence({ ownerKey: f.owner.publicKey, evidence: e, expect: f.expect, pins, now: f.now });
  return { f, authenticator, credential, approver, approve, statementOf, evidence, check };
};

const refusedWhy = async (run: Promise<unknown>) => {
  const error = await run.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EvidenceRefused);
  return (error as EvidenceRefused).message;
};

describe('approvals made with a passkey, as key servers and targets check them', () => {
  it.each([
    ['ES256', -7],
    ['Ed25519', -8],
  ] as const)('an assertion by a vouched %s passkey over this intent and decision is a signed approval, and its counter is remembered', async (_name, algorithm) => {
    const p = passkeyFixture(algorithm);
    const item = p.approve();
    const verdict = await p.check(p.evidence([item]));
    expect(verdict).toMatchObject({ approvals: 'signed', approvers: [p.approver.userId] });
    expect(verdict.passkeyPins[counterPin(p.credential.credentialId)]).toBe(1);
    // The same assertion checked again (a redelivered request, or the target after the key server) still counts.
    expect((await p.check(p.evidence([item]), verdict.passkeyPins)).approvers).toEqual([p.approver.userId]);
  });

  const attacks: [string, (p: ReturnType<typeof passkeyFixture>) => { evidence: DeploymentEvidence; pins?: Record<string, number> }, RegExp][] = [
    ['by a credential the owner vouched for in no statement', (p) => ({ evidence: p.evidence([p.approve({}, {}, softAuthenticator())]) }), /not one the owner vouched for/],
    ['by a passkey the owner withdrew (a newer statement without it)', (p) => ({ evidence: p.evidence([p.approve()], { ...p.approver, version: 3, passkeys: [] }) }), /not one the owner vouched for/],
    ['made for another deployment (its assertion replayed here)', (p) => {
      const other = p.statementOf({ deploymentId: `dep_${'a'.repeat(32)}` });
      const assertion = p.authenticator.assert({ challenge: passkeyChallenge(other), ...WEB });
      return { evidence: p.evidence([{ approval: p.statementOf(), assertion }]) };
    }, /challenge/],
    ['whose statement names another deployment', (p) => ({ evidence: p.evidence([p.approve({ deploymentId: `dep_${'b'.repeat(32)}` })]) }), /another deployment/],
    ['whose challenge commits to another decision (a decline turned into an approval)', (p) => {
      const declined = p.statementOf({ decision: 'decline' });
      return { evidence: p.evidence([{ approval: p.statementOf(), assertion: p.authenticator.assert({ challenge: passkeyChallenge(declined), ...WEB }) }]) };
    }, /challenge/],
    ['from another origin (a phishing page)', (p) => ({ evidence: p.evidence([p.approve({}, { origin: 'https://approve.example.com.evil.test' })]) }), /origin/],
    ['for another RP ID', (p) => ({ evidence: p.evidence([p.approve({}, { rpId: 'evil.test' })]) }), /RP ID/i],
    ['without user verification', (p) => ({ evidence: p.evidence([p.approve({}, { userVerified: false })]) }), /User verification required/],
    ['without user presence', (p) => ({ evidence: p.evidence([p.approve({}, { userPresent: false })]) }), /not present/],
    ['of a registration, not an assertion', (p) => ({ evidence: p.evidence([p.approve({}, { type: 'webauthn.create' })]) }), /type/],
    ['with a counter lower than one already seen', (p) => ({ evidence: p.evidence([p.approve({}, { counter: 4 })]), pins: { [counterPin(p.credential.credentialId)]: 5 } }), /counter 4 is not above 5/],
    ['with the signature of another assertion', (p) => {
      const item = p.approve();
      const other = p.approve({ at: new Date(p.f.now - 10_000).toISOString() });
      return { evidence: p.evidence([{ ...item, assertion: { ...item.assertion, response: { ...item.assertion.response, signature: other.assertion.response.signature } } }]) };
    }, /signature does not verify/],
  ];

  it.each(attacks)('refuses an assertion %s, naming why', async (_what, make, why) => {
    const p = passkeyFixture();
    const { evidence, pins } = make(p);
    const message = await refusedWhy(p.check(evidence, pins));
    expect(message).toMatch(/NotEnough|needs 1 signed approval/);
    expect(message).toMatch(why);
  });

  it('a passkey decline by an eligible approver refuses the deployment', async () => {
    const p = passkeyFixture();
    const message = await refusedWhy(p.check(p.evidence([p.approve({ decision: 'decline', message: 'not tonight' })])));
    expect(message).toMatch(/declined the deployment with a passkey: not tonight/);
  });

  it('fingerprints cover the credential id and the public key; loopback APIs serve pages as localhost', () => {
    const a = softAuthenticator().credential(WEB);
    const b = softAuthenticator().credential(WEB);
    expect(passkeyFingerprint(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(passkeyFingerprint({ ...a, publicKey: b.publicKey })).not.toBe(passkeyFingerprint(a));
    expect(passkeyFingerprint({ ...a, credentialId: b.credentialId })).not.toBe(passkeyFingerprint(a));
    expect(webOriginOf('http://127.0.0.1:4010/')).toEqual({ origin: 'http://localhost:4010', rpId: 'localhost' });
    expect(webOriginOf('https://api.latchkey.example.com')).toEqual({ origin: 'https://api.latchkey.example.com', rpId: 'api.latchkey.example.com' });
  });
});
