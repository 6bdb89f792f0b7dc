import http from 'node:http';
import { Readable } from 'node:stream';

/** What the CLI sends: a JSON call to the API, or a file's bytes to a presigned storage URL. */
export type FetchInit = {
  method: string;
  headers: Record<string, string>;
  body?: string | AsyncIterable<Uint8Array>;
  signal?: AbortSignal;
  duplex?: 'half';
};

/** What the CLI reads of an answer; a WHATWG `Response` has all of it, so tests can pass `fetch`. */
export type FetchAnswer = {
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
};

/** The part of `fetch` the CLI uses. */
export type Fetch = (url: string, init: FetchInit) => Promise<FetchAnswer>;

/**
 * `fetch` on Node's http module. Node's own fetch is undici, compiled on first use by every CLI
 * process that calls the API: the largest single part of what `latchkey status` spent beyond its
 * round trip (bench/cli-startup.ts measures the whole). Answers are read whole (the API's are small JSON; storage
 * answers a PUT with an empty body or a short XML error). Failures look like fetch's: a
 * TypeError whose cause is the socket's error, or the signal's reason when it aborted.
 */
export const httpFetch: Fetch = async (url, init) => {
  const target = new URL(url);
  // TLS loads only for an https endpoint (a local stack is http).
  const transport = target.protocol === 'http:' ? http : target.protocol === 'https:' ? (await import('node:https')).default : undefined;
  if (!transport) throw new TypeError('fetch failed', { cause: new Error(`unsupported protocol ${target.protocol}`) });
  return new Promise((resolve, reject) => {
    const { signal } = init;
    const fail = (error: unknown) => reject(signal?.aborted ? signal.reason : new TypeError('fetch failed', { cause: error }));
    const request = transport.request(target, { method: init.method, headers: init.headers, ...(signal ? { signal } : {}) }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('error', fail);
      response.once('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = response.statusCode ?? 0;
        resolve({
          ok: status >= 200 && status < 300,
          status,
          statusText: response.statusMessage ?? '',
          headers: {
            get: (name) => {
              const value = response.headers[name.toLowerCase()];
              return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
            },
          },
          text: () => Promise.resolve(text),
        });
      });
    });
    request.once('error', fail);
    if (init.body === undefined || typeof init.body === 'string') request.end(init.body);
    else Readable.from(init.body).once('error', (error) => request.destroy(error)).pipe(request);
  });
};
