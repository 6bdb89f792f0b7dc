import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { CDPSession, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { PasskeyCredential } from '#shared/protocol/passkeys.ts';
import { signStatement, type PersonStatement } from '#shared/protocol/statements.ts';
import { fromB64 } from '#shared/protocol/trust.ts';
import { as, type Caller } from './accounts.ts';
import type { SoftAuthenticator } from './soft-authenticator.ts';

type CliSession = { configPath: string; savedConfig: () => Promise<{ endpoint?: string; token?: string }> };

/** The owner's session as the CLI left it: its token, as a Caller, and the owner key from its key file. */
export const ownerOf = async (cli: CliSession, accountId: string) => {
  const { token } = await cli.savedConfig();
  const file = JSON.parse(await readFile(path.join(path.dirname(cli.configPath), `owner-key.${accountId}.json`), 'utf8')) as { privateKey: string };
  return { call: as(token!), ownerKey: { privateKey: fromB64(file.privateKey) } };
};

/** The person's newest statement as the backend holds it. */
export const personStatementOf = async (call: Caller, userId: string): Promise<PersonStatement> => {
  const listed = await call('GET', '/statements?kind=person');
  expect(listed.status, JSON.stringify(listed.body)).toBe(200);
  const found = (listed.body.items as { statement: PersonStatement }[]).map((i) => i.statement).find((s) => s.userId === userId);
  expect(found, `a person statement for ${userId}`).toBeDefined();
  return found!;
};

/**
 * The owner names `credentials` in the person's statement (the next version), as `latchkey users
 * vouch-passkey` does after the fingerprints were compared.
 */
export const vouchPasskeys = async (owner: { call: Caller; ownerKey: { privateKey: Uint8Array } }, userId: string, credentials: PasskeyCredential[]) => {
  const current = await personStatementOf(owner.call, userId);
  const next: PersonStatement = { ...current, version: current.version + 1, issuedAt: new Date().toISOString(), passkeys: credentials };
  const recorded = await owner.call('PUT', '/statements', signStatement(owner.ownerKey.privateKey, next));
  expect(recorded.status, JSON.stringify(recorded.body)).toBe(200);
  return next;
};

/**
 * Chromium's virtual authenticator on a page (Chrome DevTools Protocol, WebAuthn domain): a
 * platform authenticator that verifies its user and is present without a touch; `adopt` gives it
 * the private key of a software credential, so the passkey the owner vouched for is the one the
 * page's script signs with.
 */
export const virtualAuthenticator = async (page: Page, options: { isUserVerified?: boolean } = {}) => {
  const cdp: CDPSession = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: options.isUserVerified ?? true, automaticPresenceSimulation: true },
  });
  return {
    authenticatorId,
    adopt: async (soft: SoftAuthenticator, credential: PasskeyCredential, signCount = 0) =>
      cdp.send('WebAuthn.addCredential', {
        authenticatorId,
        credential: { credentialId: fromB64(credential.credentialId).toString('base64'), isResidentCredential: false, rpId: credential.rpId, privateKey: soft.pkcs8.toString('base64'), signCount },
      }),
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
  };
};
