/**
 * One timed operation in a fresh process, so each tool's peak RSS is its own. Bundled by
 * bench/crypto.ts with esbuild and run under plain node (tsx would add ~40 MB to every RSS).
 * Usage: node latchkey-child.mjs latchkey <encrypt|decrypt> <in> <out> <key-hex> <seed-hex:pub-hex>
 */
import { readFile, writeFile } from 'node:fs/promises';
import { decryptRelease, encryptRelease, signManifest, type CryptoContext } from '../shared/crypto/index.ts';

const [impl, op, input, output, keyHex, signerHex] = process.argv.slice(2);
if (!impl || !op || !input || !output || !keyHex) throw new Error('usage: <impl> <op> <in> <out> <key-hex> [signer-seed:pub hex]');
const key = Buffer.from(keyHex, 'hex');
const context: CryptoContext = { account: 'bench', application: 'app', release: 'r1', purpose: 'release' };

const latchkey = async (): Promise<void> => {
  const [seed, pub] = (signerHex ?? '').split(':').map((h) => Buffer.from(h, 'hex'));
  if (!seed || !pub) throw new Error('latchkey needs a signer');
  if (op === 'encrypt') {
    const release = await encryptRelease({ input, outputPath: output, releaseKey: key, context });
    await writeFile(`${output}.manifest`, signManifest(release, { privateKey: seed, publicKey: pub }));
  } else {
    const manifest = await readFile(`${input}.manifest`);
    await decryptRelease({ input, outputPath: output, releaseKey: key, context, manifest, signerPublicKey: pub, durable: false });
  }
};

await latchkey();
process.stdout.write(JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS }) + '\n');
