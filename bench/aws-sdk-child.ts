/**
 * One timed operation in a fresh process, so each tool's peak RSS is its own. Bundled by
 * bench/crypto.ts with esbuild and run under plain node (tsx would add ~40 MB to every RSS).
 * Usage: node aws-sdk-child.mjs aws-sdk <encrypt|decrypt> <in> <out> <key-hex>
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import {
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';

const [, op, input, output, keyHex] = process.argv.slice(2);
if (!op || !input || !output || !keyHex) throw new Error('usage: aws-sdk <encrypt|decrypt> <in> <out> <key-hex>');
const key = Buffer.from(keyHex, 'hex');
const awsSdk = async (): Promise<void> => {
  // The SDK's recommended default: committing suite with an ECDSA P-384 message signature.
  const client = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new RawAesKeyringNode({
    keyName: 'bench',
    keyNamespace: 'latchkey-bench',
    unencryptedMasterKey: new Uint8Array(key),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const stream = op === 'encrypt' ? client.encryptStream(keyring) : client.decryptStream(keyring);
  await pipeline(createReadStream(input, { highWaterMark: 1 << 20 }), stream, createWriteStream(output));
};

await awsSdk();
process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
