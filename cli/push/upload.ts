import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ResponseOf } from '../api-client.ts';
import { ApiUnreachable, RefusedError } from '../errors.ts';
import type { Fetch } from '../http-fetch.ts';
import type { Progress } from './progress.ts';

export type UploadPlan = ResponseOf<'POST /apps/{id}/releases'>['upload'];
export type UploadedPart = { partNumber: number; etag: string };
/** Fresh URLs for these parts (POST …/upload): URLs expire, an upload of any size must not. */
export type RenewUpload = (partNumbers: number[]) => Promise<UploadPlan>;

/** A URL this close to its expiry is renewed before a part is sent with it. */
const RENEW_MARGIN_MS = 2 * 60_000;

/** Parts in flight at once: enough to fill a link, few enough for a small machine. */
const PART_CONCURRENCY = 3;
const PART_ATTEMPTS = 3;

class UploadError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** S3 refused the URL itself (expired, or its signer's credentials did): a fresh URL may work. */
    readonly urlRefused = false,
  ) {
    super(message);
  }
}

/** S3 says why in XML: `<Code>SignatureDoesNotMatch</Code>`; keep just the code. */
const s3Reason = (text: string) => /<Code>([^<]{1,100})<\/Code>/.exec(text)?.[1];

/**
 * PUTs bytes [start, end) of `file` to a presigned URL, counting them into `progress` as they
 * are read. The length is sent as Content-Length (S3 refuses chunked uploads to presigned URLs).
 */
const putRange = async (fetch: Fetch, url: string, file: string, start: number, end: number, progress: Progress, signal: AbortSignal) => {
  let sent = 0;
  const length = end - start;
  const source = length === 0 ? Readable.from([]) : createReadStream(file, { start, end: end - 1, highWaterMark: 1024 * 1024 });
  source.on('data', (chunk: Buffer | string) => {
    sent += chunk.length;
    progress.add(chunk.length);
  });
  try {
    const response = await fetch(url, {
      method: 'PUT',
      headers: { 'content-length': String(length), 'content-type': 'application/octet-stream' },
      body: source,
      duplex: 'half',
      signal,
    });
    const text = await response.text();
    if (!response.ok) {
      const why = s3Reason(text) ?? response.statusText;
      throw new UploadError(`the storage service answered ${response.status}${why ? ` (${why})` : ''}`, response.status >= 500 || response.status === 429, response.status === 403);
    }
    return response.headers.get('etag') ?? undefined;
  } catch (error) {
    progress.add(-sent);
    if (error instanceof UploadError) throw error;
    if (signal.aborted) throw error;
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    throw new UploadError(cause?.code ?? cause?.message ?? (error as Error).message, true);
  } finally {
    source.destroy();
  }
};

const failed = (what: string, error: unknown) => {
  const message = `Uploading ${what} failed: ${(error as Error).message}`;
  return error instanceof UploadError && !error.retryable
    ? new RefusedError(message, { hint: 'The storage service refused the upload URL even after it was renewed; push again.' })
    : new ApiUnreachable(message, { hint: 'Check the network and push again.' });
};

/**
 * The current URL of each part, renewed (all the parts not yet uploaded, in one call) when the
 * one about to be used is near its expiry or was refused: so an upload outlasts its URLs.
 */
const partUrls = (plan: UploadPlan, renew: RenewUpload | undefined, now: () => number) => {
  const urls = new Map<number, { url: string; expiresAt: number }>();
  const take = (fresh: UploadPlan) => {
    const expiresAt = Date.parse(fresh.expiresAt);
    if (fresh.type === 'single') urls.set(1, { url: fresh.url, expiresAt });
    else for (const part of fresh.parts) urls.set(part.partNumber, { url: part.url, expiresAt });
  };
  take(plan);
  const done = new Set<number>();
  let renewing: Promise<void> | undefined;
  const renewNow = (partNumber: number) =>
    (renewing ??= renew!([...new Set([partNumber, ...[...urls.keys()].filter((n) => !done.has(n))])].sort((a, b) => a - b))
      .then(take)
      .finally(() => {
        renewing = undefined;
      }));
  return {
    /** The URL for a part, renewed first if it expires within the margin. */
    url: async (partNumber: number) => {
      if (renew && urls.get(partNumber)!.expiresAt - now() < RENEW_MARGIN_MS) await renewNow(partNumber);
      return urls.get(partNumber)!.url;
    },
    /** After S3 refused a URL: a fresh one, if the API can give one. */
    refused: async (partNumber: number) => {
      if (!renew) return false;
      await renewNow(partNumber);
      return true;
    },
    uploaded: (partNumber: number) => done.add(partNumber),
  };
};

/**
 * Uploads `file` (`size` bytes) as the API planned it: one PUT, or parts of `partSize` each PUT
 * to its own URL, a few at a time, each tried up to three times. URLs near their expiry, or
 * refused by the storage service, are renewed through `renew` (POST …/upload), so a large push
 * on a slow link survives its 15-minute URLs. Answers the parts with their ETags for a multipart
 * upload (the API needs them to complete it).
 */
export const uploadRelease = async (options: {
  fetch: Fetch;
  plan: UploadPlan;
  file: string;
  size: number;
  progress: Progress;
  signal: AbortSignal;
  renew?: RenewUpload;
  now?: () => number;
}): Promise<UploadedPart[] | undefined> => {
  const { fetch, plan, file, size, progress, signal } = options;
  const urls = partUrls(plan, options.renew, options.now ?? Date.now);
  if (plan.type === 'single') {
    for (let attempt = 1; ; attempt++) {
      try {
        await putRange(fetch, await urls.url(1), file, 0, size, progress, signal);
        return undefined;
      } catch (error) {
        if (signal.aborted) throw error;
        const again = error instanceof UploadError && (error.retryable || (error.urlRefused && (await urls.refused(1))));
        if (attempt >= PART_ATTEMPTS || !again) throw failed('the release', error);
      }
    }
  }
  const count = Math.max(1, Math.ceil(size / plan.partSize));
  const parts = [...plan.parts].sort((a, b) => a.partNumber - b.partNumber);
  if (plan.partSize <= 0 || parts.length !== count || parts.some((part, i) => part.partNumber !== i + 1)) {
    throw new ApiUnreachable(`The API planned ${parts.length} upload parts of ${plan.partSize} bytes for ${size} bytes; that does not add up`);
  }
  const uploaded: UploadedPart[] = [];
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (next < parts.length && !stopped) {
      const part = parts[next++]!;
      const start = (part.partNumber - 1) * plan.partSize;
      const end = Math.min(size, start + plan.partSize);
      for (let attempt = 1; ; attempt++) {
        try {
          const etag = await putRange(fetch, await urls.url(part.partNumber), file, start, end, progress, signal);
          if (!etag) throw new UploadError('the storage service sent no ETag for the part', false);
          uploaded.push({ partNumber: part.partNumber, etag });
          urls.uploaded(part.partNumber);
          break;
        } catch (error) {
          if (signal.aborted) throw error;
          const again = error instanceof UploadError && (error.retryable || (error.urlRefused && (await urls.refused(part.partNumber))));
          if (attempt >= PART_ATTEMPTS || !again) {
            stopped = true; // the other workers finish their part in flight and take no more
            throw failed(`part ${part.partNumber} of ${parts.length}`, error);
          }
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PART_CONCURRENCY, parts.length) }, worker));
  return uploaded.sort((a, b) => a.partNumber - b.partNumber);
};
