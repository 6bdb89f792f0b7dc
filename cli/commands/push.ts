import type { Command } from 'commander';
import { encodeContext, type CryptoContext } from '#shared/crypto/context.ts';
import type { ArchiveCodec, UnsignedManifest } from '#shared/crypto/manifest.ts';
import { ciphertextSizeFor, DEFAULT_SEGMENT_SIZE } from '#shared/crypto/release-format.ts';
import { releasePayloadContext } from '#shared/domain/deploys/contexts.ts';
import { examples, integer } from '../command-kit.ts';
import type { Context } from '../context.ts';

/** The release payload context (docs/release-format.md §2): the one targets and `complete` check too. */
export const releaseContext = releasePayloadContext;

/** Release header bytes around the context (docs/release-format.md §3.1): magic…length, and the commitment. */
const HEADER_FIXED_BYTES = 8 + 1 + 4 + 32 + 2 + 32;

/**
 * The size of the encrypted file, known before the release (and so its id) exists: release ids
 * have one fixed length, so a placeholder id gives a context of the real one's length. Checked
 * again once the id is known.
 */
export const encryptedSizeFor = (ids: { accountId: string; appId: string }, plaintextSize: number, releaseId = `rel_${'0'.repeat(32)}`) =>
  ciphertextSizeFor(HEADER_FIXED_BYTES + encodeContext(releaseContext({ ...ids, releaseId })).byteLength, DEFAULT_SEGMENT_SIZE, plaintextSize);

/** `20261123.085551`: sorts by time and satisfies the version rules. */
export const timestampVersion = (at = new Date()) => at.toISOString().replace(/[-:]/g, '').replace('T', '.').slice(0, 15);

/**
 * A plain release has no release header: its manifest says so with segment size 0 and an
 * all-zero header hash, and carries the one digest of the uploaded (= plaintext) bytes.
 */
export const plainManifest = (context: CryptoContext, size: number, sha256: Buffer, codec?: ArchiveCodec): UnsignedManifest => ({
  context,
  ...(codec ? { codec } : {}),
  segmentSize: 0,
  plaintextSize: size,
  ciphertextSize: size,
  headerHash: Buffer.alloc(32),
  fileDigest: sha256,
});

export type PushOptions = { version?: string; sealTimeout: number };

export const registerPush = (program: Command, ctx: Context) => {
  examples(
    program
      .command('push')
      .description(
        'Pack DIR as a release of APP and upload it. For a secure application the archive is encrypted here, ' +
          'and its key goes only to a key server the owner enrolled; the manifest is signed with your key either way.',
      )
      .argument('<app>', 'application name or id')
      .argument('<dir>', 'directory to pack (tar, brotli-compressed)')
      .option('--version <version>', 'release version (default: a UTC timestamp, e.g. 20261123.085551)')
      .option('--json', 'print the release as JSON on stdout (for scripts)')
      .option('--seal-timeout <seconds>', 'how long each key server gets to seal the release key, in seconds', integer(1, 600), 20)
      // The packing, encryption and upload (tar, the release pipeline, HPKE) load only for a push:
      // every other command starts without compiling them (packaging/bundle.ts).
      .action(async (appRef: string, dir: string, options: PushOptions, command: Command) => {
        const { pushRelease } = await import('../push/push-release.ts');
        await pushRelease(ctx, ctx.output(command), appRef, dir, options);
      }),
    ['latchkey push web-api ./dist', 'latchkey push web-api ./build --version v1.4.2 --json | jq -r .releaseId'],
  );
};
