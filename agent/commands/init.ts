import { resolve } from 'node:path';
import { agentPublicKeys, generateAgentKeys, saveAgentKeys } from '#shared/crypto/index.ts';
import { agentFingerprint, agentIdFor, fromB64, keyFingerprint, publicKey32, toB64 } from '#shared/protocol/trust.ts';
import { TrustError, UsageError } from '../errors.ts';
import { checkIsolation } from '../isolation/check.ts';
import { createStateDir, writeState } from '../state.ts';

export interface InitOptions {
  state: string;
  endpoint: string;
  ownerKey: string;
  /** The fingerprint the owner read out, if the operator has it: checked, not trusted instead of the key. */
  expectFingerprint?: string | undefined;
  /** Who runs release code, and where: needed by an agent that will install releases (a target, or a key server that also serves environments). */
  releaseUser?: string | undefined;
  releasesDir?: string | undefined;
}

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** https only, except on this machine (the local stack): session credentials travel over it. */
export const checkEndpoint = (endpoint: string) => {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint ${endpoint} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname))) {
    throw new UsageError('--endpoint must be an https:// URL (http:// only for localhost)');
  }
  return url.toString().replace(/\/+$/, '');
};

export const checkOwnerKey = (ownerKey: string) => {
  if (/^[0-9a-f]{64}$/i.test(ownerKey.replace(/:/g, ''))) {
    throw new UsageError(
      '--owner-key needs the owner public key (43 base64url characters), not its fingerprint: a fingerprint cannot check signatures. ' +
        'Ask the account owner for the public key; the fingerprint is what you compare afterwards (--expect-fingerprint).',
    );
  }
  if (!publicKey32.safeParse(ownerKey).success) throw new UsageError('--owner-key must be the owner public key: 43 base64url characters');
  return ownerKey;
};

/** --release-user and --releases go together; the releases directory is kept as an absolute path. */
const installSettingsOf = (options: InitOptions) => {
  if (options.releaseUser === undefined && options.releasesDir === undefined) return undefined;
  if (!options.releaseUser || !options.releasesDir) throw new UsageError('--release-user and --releases go together: who runs release code, and where');
  return { releaseUser: options.releaseUser, releasesDir: resolve(options.releasesDir) };
};

/**
 * `init`: 1. check the inputs, and with --release-user that release code can run as that user
 * apart from this agent (agent/isolation/check.ts), before anything is written; 2. create the
 * private state directory; 3. make the agent's two key pairs there (0600, never overwritten);
 * 4. pin the owner key (and keep the release settings); 5. print the owner key's fingerprint for
 * the operator to compare with the owner's, and the agent's id, public keys and fingerprint, which
 * the owner confirms after enrolment (`latchkey agents confirm`).
 */
export const init = async (options: InitOptions, out: (text: string) => void) => {
  const endpoint = checkEndpoint(options.endpoint);
  const ownerKey = checkOwnerKey(options.ownerKey);
  const fingerprint = keyFingerprint(fromB64(ownerKey));
  if (options.expectFingerprint !== undefined && options.expectFingerprint.replace(/:/g, '').toLowerCase() !== fingerprint) {
    throw new TrustError(`the owner key's fingerprint is ${fingerprint}, not the expected ${options.expectFingerprint}: nothing was written`);
  }
  const install = installSettingsOf(options);
  const isolation = install ? await checkIsolation(install, resolve(options.state)) : undefined;

  const paths = await createStateDir(options.state);
  const keys = generateAgentKeys();
  try {
    await saveAgentKeys(paths.keys, keys);
    await writeState(options.state, { v: 1, endpoint, ownerKey, ...(install ? { install } : {}) });
    const publicKeys = agentPublicKeys(keys);
    const agentId = agentIdFor(publicKeys.signing);
    out(
      [
        `Agent initialised in ${options.state}`,
        `  agent id:               ${agentId}`,
        `  agent fingerprint:      ${agentFingerprint({ signingKey: publicKeys.signing, encryptionKey: publicKeys.encryption })}`,
        `  signing key:            ${toB64(publicKeys.signing)}`,
        `  encryption key:         ${toB64(publicKeys.encryption)}`,
        `  owner key fingerprint:  ${fingerprint}`,
        isolation
          ? `  release code runs as:   ${isolation.user.name} (uid ${isolation.user.uid}), in ${isolation.releasesDir}`
          : '  release code:           none (no --release-user): this agent can only be a key server that installs nothing',
        'Compare the owner key fingerprint with the one the account owner sees. If they differ, stop: this agent would trust someone else.',
        `Next: latchkey-agent enrol --state ${options.state}   (it asks for the enrolment token, or reads LATCHKEY_ENROLMENT_TOKEN)`,
        '',
      ].join('\n'),
    );
  } finally {
    keys.encryption.privateKey.fill(0);
    keys.signing.privateKey.fill(0);
  }
};
