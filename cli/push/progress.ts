import type { Writer } from '../output.ts';

/** Decimal units, as network speeds are quoted: 1 MB = 1 000 000 bytes. */
export const formatBytes = (bytes: number): string => {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
};

export const formatRate = (bytesPerSecond: number): string => `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;

export const formatDuration = (seconds: number): string => {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
};

/** One progress line: `Uploading  45%  90.0 MB of 200.0 MB  38.2 MB/s  ETA 3s`. Pure, for tests. */
export const progressLine = (done: number, total: number, elapsedSeconds: number, withEta: boolean): string => {
  const percent = total > 0 ? Math.floor((done / total) * 100) : 100;
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const parts = [`Uploading ${String(percent).padStart(3)}%`, `${formatBytes(done)} of ${formatBytes(total)}`, formatRate(rate)];
  if (withEta) parts.push(`ETA ${rate > 0 ? formatDuration((total - done) / rate) : '?'}`);
  return parts.join('  ');
};

export const summaryLine = (total: number, elapsedSeconds: number): string =>
  `Uploaded ${formatBytes(total)} in ${elapsedSeconds.toFixed(1)}s (${formatRate(elapsedSeconds > 0 ? total / elapsedSeconds : 0)}).`;

export type ProgressOptions = {
  total: number;
  write: Writer;
  /** On a terminal the line is redrawn in place (with ETA); elsewhere a line every `everyMs`. */
  isTTY: boolean;
  now?: () => number;
  everyMs?: number;
};

/**
 * Upload progress on stderr. Bytes may also go back (a part that failed and is sent again), so
 * `add` takes negative counts. Redraws are throttled: a 64 KiB chunk each is far too often.
 */
export class Progress {
  private done = 0;
  private readonly started: number;
  private lastDrawn = -Infinity;
  private readonly now: () => number;
  private readonly everyMs: number;

  constructor(private readonly options: ProgressOptions) {
    this.now = options.now ?? (() => performance.now());
    this.everyMs = options.everyMs ?? (options.isTTY ? 100 : 3000);
    this.started = this.now();
  }

  add(bytes: number): void {
    this.done = Math.min(this.options.total, Math.max(0, this.done + bytes));
    const at = this.now();
    if (at - this.lastDrawn < this.everyMs) return;
    this.lastDrawn = at;
    this.draw(at);
  }

  private draw(at: number) {
    const line = progressLine(this.done, this.options.total, (at - this.started) / 1000, this.options.isTTY);
    this.options.write(this.options.isTTY ? `\r${line}\u001b[K` : `${line}\n`);
  }

  /** The closing line, always written: how much, how long, how fast. */
  finish(): void {
    const elapsed = (this.now() - this.started) / 1000;
    this.options.write(`${this.options.isTTY ? '\r\u001b[K' : ''}${summaryLine(this.options.total, elapsed)}\n`);
  }

  /** Leaves the terminal on a fresh line after a failure. */
  abandon(): void {
    if (this.options.isTTY && this.lastDrawn > -Infinity) this.options.write('\n');
  }
}
