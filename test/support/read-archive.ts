import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { archiveReader, tarOf, unreadable } from '#agent/target/archive.ts';
import type { ArchiveCodec } from '#shared/crypto/manifest.ts';

/** An archive file as the plain tar stream the release user's `tar -x` reads (agent/target/archive.ts tarOf). */
export const tarStream = (file: string, codec: ArchiveCodec) => tarOf(createReadStream(file, { highWaterMark: 1024 * 1024 }), codec);

/** What the agent reads of an archive (archiveReader), from a file: the tests' way in. */
export const readArchive = async (file: string, codec: ArchiveCodec): Promise<{ entries: { path: string; type: string }[]; manifest?: string }> => {
  const tar = tarStream(file, codec);
  const reader = archiveReader();
  try {
    await pipeline(tar.stream, reader.parser);
    if (tar.failed()) throw tar.failed();
  } catch (error) {
    throw unreadable(error);
  }
  return reader.result();
};
