import { describe, expect, it } from 'vitest';
import { objectChangeOf } from '../../../local/s3-object-mirror.ts';

const buckets = new Set(['latchkey-releases']);
const request = (method: string, key: string, query: Record<string, string> = {}, bucket = 'latchkey-releases') => ({
  method,
  params: { bucket, '*': key },
  query,
});

describe('objectChangeOf (which S3 requests change a kept object if they succeed)', () => {
  it('a put and a completed multipart upload save the object; a delete removes it', () => {
    expect(objectChangeOf(request('PUT', 'accounts/a/r'), buckets)).toEqual({ kind: 'saved', bucket: 'latchkey-releases', key: 'accounts/a/r' });
    expect(objectChangeOf(request('POST', 'accounts/a/r', { uploadId: 'u1' }), buckets)).toEqual({ kind: 'saved', bucket: 'latchkey-releases', key: 'accounts/a/r' });
    expect(objectChangeOf(request('DELETE', 'accounts/a/r'), buckets)).toEqual({ kind: 'deleted', bucket: 'latchkey-releases', key: 'accounts/a/r' });
  });

  it('parts, starting or aborting an upload, reads, bucket requests and other buckets change nothing', () => {
    expect(objectChangeOf(request('PUT', 'k', { uploadId: 'u1', partNumber: '1' }), buckets)).toBeUndefined();
    expect(objectChangeOf(request('POST', 'k', { uploads: '' }), buckets)).toBeUndefined();
    expect(objectChangeOf(request('DELETE', 'k', { uploadId: 'u1' }), buckets)).toBeUndefined();
    expect(objectChangeOf(request('GET', 'k'), buckets)).toBeUndefined();
    expect(objectChangeOf(request('PUT', ''), buckets)).toBeUndefined();
    expect(objectChangeOf(request('PUT', 'k', {}, 'other'), buckets)).toBeUndefined();
    expect(objectChangeOf({ method: 'POST', params: {}, query: {} }, buckets)).toBeUndefined();
  });
});
