import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  agentPublicKeys,
  decodeAgentKeyFile,
  encodeAgentKeyFile,
  generateAgentKeys,
  loadAgentKeys,
  saveAgentKeys,
} from '../../../shared/crypto/index.ts';
import { makeTempDir, rejection } from './helpers.ts';

let tmp: ReturnType<typeof makeTempDir>;
beforeEach(() => {
  tmp = makeTempDir();
});
afterEach(() => tmp.cleanup());

describe('agent key file', () => {
  it('saves with mode 0600 and loads the same keys', async () => {
    const keys = generateAgentKeys();
    const path = join(tmp.dir, 'agent.key');
    await saveAgentKeys(path, keys);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await loadAgentKeys(path)).toEqual(keys);
    expect(tmp.files()).toEqual(['agent.key']);
    expect(agentPublicKeys(keys).encryption.equals(keys.encryption.publicKey)).toBe(true);
  });

  it('never overwrites an existing key file', async () => {
    const path = join(tmp.dir, 'agent.key');
    await saveAgentKeys(path, generateAgentKeys());
    const before = readFileSync(path);
    await expect(saveAgentKeys(path, generateAgentKeys())).rejects.toThrow(/EEXIST/);
    expect(readFileSync(path).equals(before)).toBe(true);
    expect(tmp.files()).toEqual(['agent.key']);
  });

  it('refuses a file readable by others', async () => {
    const path = join(tmp.dir, 'agent.key');
    await saveAgentKeys(path, generateAgentKeys());
    chmodSync(path, 0o644);
    expect((await rejection(() => loadAgentKeys(path))).reason).toBe('insecure-key-file');
  });

  it('detects corruption and mismatched halves', async () => {
    const file = encodeAgentKeyFile(generateAgentKeys());
    for (let i = 0; i < file.byteLength; i++) {
      const bad = Buffer.from(file);
      bad[i]! ^= 0x01;
      expect((await rejection(async () => decodeAgentKeyFile(bad))).reason).toBe('malformed');
    }
    const path = join(tmp.dir, 'short.key');
    writeFileSync(path, file.subarray(1), { mode: 0o600 });
    expect((await rejection(() => loadAgentKeys(path))).reason).toBe('malformed');
  });
});
