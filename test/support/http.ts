import { inject } from 'vitest';

export type ApiResponse = { status: number; contentType: string; body: any };

/** Real HTTP against the local API. */
export const api = async (method: string, path: string, init: { json?: unknown; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<ApiResponse> => {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | Buffer | undefined = init.body;
  if (init.json !== undefined) {
    body = JSON.stringify(init.json);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(inject('endpoints').api + path, { method, headers, ...(body === undefined ? {} : { body }) });
  const contentType = response.headers.get('content-type') ?? '';
  const text = await response.text();
  return { status: response.status, contentType, body: contentType.includes('json') && text ? JSON.parse(text) : text };
};
