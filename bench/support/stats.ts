/** Latency statistics for the benchmarks: nearest-rank percentiles, as load tools report them. */

/** The smallest sample at or above `p` percent of the sorted samples (nearest rank); NaN for none. */
export const percentile = (samples: readonly number[], p: number): number => {
  if (samples.length === 0) return Number.NaN;
  if (p < 0 || p > 100) throw new RangeError(`percentile must be within 0..100, not ${p}`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
};

/** The middle sample, or the mean of the two middle ones; NaN for none. */
export const median = (samples: readonly number[]): number => {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

export type Latency = { count: number; p50: number; p99: number };

export const latencyOf = (samples: readonly number[]): Latency => ({ count: samples.length, p50: percentile(samples, 50), p99: percentile(samples, 99) });

/** Samples grouped by label (e.g. route), kept in arrival order. */
export class Samples {
  readonly byLabel = new Map<string, number[]>();

  add(label: string, value: number): void {
    const list = this.byLabel.get(label);
    if (list) list.push(value);
    else this.byLabel.set(label, [value]);
  }

  all(): number[] {
    return [...this.byLabel.values()].flat();
  }
}
