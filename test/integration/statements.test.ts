import { describe, expect, it } from 'vitest';
import { generateRawKeyPair } from '#shared/crypto/index.ts';
import { signStatement, type ApplicationStatement } from '#shared/protocol/statements.ts';
import { newAccount } from '../support/accounts.ts';
import { registerOwnerKey } from '../support/agents.ts';

/** PUT /statements keeps only what agents would accept: the owner's, about something of the account, newer. */
describe('owner statements', () => {
  it('keeps a statement the owner key signed, newer versions only; refuses another key, an unknown subject, an older or different same version', async () => {
    // Prepare: an account with its owner key and an application.
    const a = await newAccount();
    const owner = await registerOwnerKey(a.owner);
    const app = (await a.owner('POST', '/apps', { name: 'web' })).body as { appId: string };
    const statementOf = (version: number, secure: boolean): ApplicationStatement => ({ v: 1, kind: 'application', accountId: a.accountId, appId: app.appId, name: 'web', secure, version, issuedAt: new Date().toISOString() });
    const v1 = signStatement(owner.privateKey, statementOf(1, false));

    // Act / Assess
    const kept = await a.owner('PUT', '/statements', v1);
    expect(kept.status, JSON.stringify(kept.body)).toBe(200);
    expect(kept.body).toMatchObject({ statement: v1.statement, signature: v1.signature });
    expect((await a.owner('PUT', '/statements', v1)).status).toBe(200); // the same again: idempotent
    expect((await a.owner('PUT', '/statements', signStatement(owner.privateKey, { ...statementOf(1, true) }))).status).toBe(409);
    const forged = await a.owner('PUT', '/statements', signStatement(generateRawKeyPair('ed25519').privateKey, statementOf(2, false)));
    expect(forged.status).toBe(400);
    expect(forged.body).toMatchObject({ field: 'signature' });
    expect((await a.owner('PUT', '/statements', signStatement(owner.privateKey, { ...statementOf(2, true), appId: `app_${'0'.repeat(32)}` }))).status).toBe(404);
    expect((await a.deployer.call('PUT', '/statements', signStatement(owner.privateKey, statementOf(2, true)))).status).toBe(403);
    const v2 = signStatement(owner.privateKey, statementOf(2, true));
    expect((await a.owner('PUT', '/statements', v2)).status).toBe(200);
    expect((await a.owner('PUT', '/statements', v1)).status).toBe(409); // older than on record

    // Everyone reads the newest, to check it locally.
    const listed = await a.deployer.call('GET', '/statements?kind=application');
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([expect.objectContaining({ statement: v2.statement, signature: v2.signature })]);
  });
});
