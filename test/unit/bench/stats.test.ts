import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { latencyOf, median, percentile, Samples } from '../../../bench/support/stats.ts';

describe('percentile (nearest rank)', () => {
  it('picks the sample at the rank, whatever the order', () => {
    const samples = [50, 10, 40, 20, 30];
    expect(percentile(samples, 50)).toBe(30);
    expect(percentile(samples, 99)).toBe(50);
    expect(percentile(samples, 100)).toBe(50);
    expect(percentile(samples, 0)).toBe(10);
    expect(percentile(samples, 20)).toBe(10);
    expect(percentile(samples, 21)).toBe(20);
  });

  it('of 100 samples 1..100, p99 is 99 and p50 is 50', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(percentile(samples, 99)).toBe(99);
    expect(percentile(samples, 50)).toBe(50);
  });

  it('is NaN for no samples and refuses a percent outside 0..100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('is always one of the samples, and grows with p', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1 }), fc.double({ min: 0, max: 100, noNaN: true }), (samples, p) => {
        expect(samples).toContain(percentile(samples, p));
        expect(percentile(samples, p)).toBeLessThanOrEqual(percentile(samples, Math.min(100, p + 1)));
      }),
    );
  });

  it('does not reorder the caller\'s array', () => {
    const samples = [3, 1, 2];
    percentile(samples, 50);
    expect(samples).toEqual([3, 1, 2]);
  });
});

describe('median', () => {
  it('is the middle sample, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('latency summary and samples by label', () => {
  it('summarises count, p50 and p99', () => {
    expect(latencyOf([1, 2, 3, 4])).toEqual({ count: 4, p50: 2, p99: 4 });
  });

  it('files samples under their label, keeping the order of arrival', () => {
    const samples = new Samples();
    samples.add('GET /a', 2);
    samples.add('POST /b', 5);
    samples.add('GET /a', 1);
    expect(samples.byLabel.get('GET /a')).toEqual([2, 1]);
    expect(samples.all()).toEqual([2, 1, 5]);
  });
});
