import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateRawKeyPair, loadAgentKeys } from '#shared/crypto/index.ts';
import type { z } from 'zod';
import type { enrolAgentInput } from '#shared/protocol/agents.ts';
import {
  agentFingerprint,
  agentIdFor,
  formatEnrolmentToken,
  parseEnrolmentToken,
  signEnrolment,
  toB64,
  verifyAgentProof,
  type EnrolmentStatement,
} from '#shared/protocol/trust.ts';
import type { AgentApi } from '#agent/api.ts';
import { enrol } from '#agent/commands/enrol.ts';
import { init } from '#agent/commands/init.ts';
import { show } from '#agent/commands/show.ts';
import { runAgent } from '#agent/program.ts';
import { readState, statePaths } from '#agent/state.ts';
import { memoryLog, newId, tempDir } from './fixtures.ts';

describe('enrolment tokens', () => {
  it('parse into the enrolment id and the token seed', () => {
    const seed = generateRawKeyPair('ed25519').privateKey;
    const enrolmentId = newId('enr');

    expect(parseEnrolmentToken(` ${formatEnrolmentToken(enrolmentId, seed)}\n`)).toEqual({ enrolmentId, tokenSeed: seed });
  });

  it.each(['', 'lke_', `lke_${newId('enr')}`, `lke_${newId('enr')}_short`, `lkx_${newId('enr')}_${'A'.repeat(43)}`, `lke_enr_XYZ_${'A'.repeat(43)}`])(
    'refuses %j',
    (token) => {
      expect(parseEnrolmentToken(token)).toBeUndefined();
    },
  );
});

describe('enrol', () => {
  /** An owner, an enrolment signed by it, and a fake backend that serves it and records POSTs. */
  const setup = async (tamper: { signer?: 'other-owner'; tokenKey?: 'other' } = {}) => {
    const owner = generateRawKeyPair('ed25519');
    const token = generateRawKeyPair('ed25519');
    const dir = join(await tempDir(), 'state');
    await init({ state: dir, endpoint: 'https://api.example.com', ownerKey: toB64(owner.publicKey) }, () => {});
    const statement: EnrolmentStatement = {
      v: 1,
      accountId: newId('acc'),
      enrolmentId: newId('enr'),
      role: 'keyserver',
      environments: [],
      expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      tokenPublicKey: toB64((tamper.tokenKey ? generateRawKeyPair('ed25519') : token).publicKey),
    };
    const signer = tamper.signer ? generateRawKeyPair('ed25519') : owner;
    const posted: z.input<typeof enrolAgentInput>[] = [];
    const api = {
      getEnrolment: async () => ({ statement, ownerSignature: signEnrolment(signer.privateKey, statement) }),
      enrol: async (input: z.input<typeof enrolAgentInput>) => {
        posted.push(input);
        return { agentId: input.binding.agentId, queueUrl: 'https://sqs.example.com/agent' };
      },
      session: async () => {
        throw new Error('not used');
      },
    } as unknown as AgentApi;
    const tokenText = formatEnrolmentToken(statement.enrolmentId, token.privateKey);
    const printed: string[] = [];
    const run = () => enrol({ state: dir, token: tokenText }, { api: () => api, log: memoryLog(), out: (text) => printed.push(text) });
    return { owner, token, tokenText, dir, statement, posted, run, printed, api };
  };

  it('registers keys bound to the owner-signed enrolment and stores a proof peers accept, but not the token', async () => {
    const { owner, token, dir, statement, posted, run } = await setup();

    await run();

    const keys = await loadAgentKeys(statePaths(dir).keys);
    expect(posted).toHaveLength(1);
    expect(posted[0]!.binding).toMatchObject({ agentId: agentIdFor(keys.signing.publicKey), encryptionKey: toB64(keys.encryption.publicKey), role: 'keyserver' });
    const { enrolment } = await readState(dir);
    expect(enrolment).toMatchObject({ accountId: statement.accountId, agentId: agentIdFor(keys.signing.publicKey), role: 'keyserver' });
    expect(verifyAgentProof(owner.publicKey, enrolment!.proof, { accountId: statement.accountId }).agentId).toBe(enrolment!.agentId);
    const files = (await readFile(statePaths(dir).state, 'utf8')) + (await readFile(statePaths(dir).keys)).toString('base64url');
    expect(files).not.toContain(toB64(token.privateKey));
  });

  it('refuses an enrolment not signed by the pinned owner key, and registers nothing', async () => {
    const { dir, posted, run } = await setup({ signer: 'other-owner' });

    await expect(run()).rejects.toThrow(/not signed by the account owner/);
    expect(posted).toHaveLength(0);
    expect((await readState(dir)).enrolment).toBeUndefined();
  });

  it('refuses an enrolment made for another token key, and registers nothing', async () => {
    const { posted, run } = await setup({ tokenKey: 'other' });

    await expect(run()).rejects.toThrow(/not made for this token/);
    expect(posted).toHaveLength(0);
  });

  it('refuses to enrol twice', async () => {
    const { run } = await setup();
    await run();

    await expect(run()).rejects.toThrow(/already enrolled/);
  });

  it('prints the fingerprint of the keys on disk, which show prints again, with the command the owner confirms the agent with', async () => {
    const { dir, run, printed } = await setup();
    await run();
    const shown: string[] = [];
    await show({ state: dir }, (text) => shown.push(text));

    const keys = await loadAgentKeys(statePaths(dir).keys);
    const fingerprint = agentFingerprint({ signingKey: keys.signing.publicKey, encryptionKey: keys.encryption.publicKey });
    const agentId = agentIdFor(keys.signing.publicKey);
    for (const text of [printed.join(''), shown.join('')]) {
      expect(text).toContain(`agent fingerprint:`);
      expect(text).toContain(`latchkey agents confirm ${agentId} --fingerprint ${fingerprint}`);
      expect(text).toContain(toB64(keys.encryption.publicKey));
      expect(text).not.toContain(toB64(keys.signing.privateKey));
    }
  });

  it('takes the token from LATCHKEY_ENROLMENT_TOKEN or the prompt, never from the command line', async () => {
    const { dir, tokenText } = await setup();
    const deps = (env: Record<string, string>, secret: string) => {
      const err: string[] = [];
      return { err, deps: { stdout: () => {}, stderr: (t: string) => void err.push(t), env, fetch: globalThis.fetch, signal: new AbortController().signal, readSecret: async () => secret } };
    };
    const withFlag = deps({}, '');
    expect(await runAgent(['enrol', '--state', dir, '--token', tokenText], withFlag.deps)).toBe(2);
    expect(withFlag.err.join('')).toContain("unknown option '--token'");
    const none = deps({}, '');
    expect(await runAgent(['enrol', '--state', dir], none.deps)).toBe(2);
    expect(none.err.join('')).toContain('paste it at the prompt, or set LATCHKEY_ENROLMENT_TOKEN');
  });
});
