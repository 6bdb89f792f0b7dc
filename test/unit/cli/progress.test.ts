import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration, Progress, progressLine, summaryLine } from '#cli/push/progress.ts';
import { timestampVersion } from '#cli/commands/push.ts';

describe('upload progress', () => {
  it('formats sizes, rates and durations for people', () => {
    expect([formatBytes(512), formatBytes(1_500), formatBytes(200_000_000), formatBytes(5_368_709_120)]).toEqual(['512 B', '1.5 kB', '200.0 MB', '5.37 GB']);
    expect([formatDuration(3.4), formatDuration(125), formatDuration(3_720), formatDuration(Infinity)]).toEqual(['3s', '2m05s', '1h02m', '?']);
    expect(progressLine(90_000_000, 200_000_000, 2, true)).toBe('Uploading  45%  90.0 MB of 200.0 MB  45.0 MB/s  ETA 2s');
    expect(progressLine(90_000_000, 200_000_000, 2, false)).toBe('Uploading  45%  90.0 MB of 200.0 MB  45.0 MB/s');
    expect(summaryLine(200_000_000, 4)).toBe('Uploaded 200.0 MB in 4.0s (50.0 MB/s).');
  });

  it('off a terminal writes a line every few seconds, then the summary', () => {
    let clock = 0;
    const lines: string[] = [];
    const progress = new Progress({ total: 100e6, write: (t) => void lines.push(t), isTTY: false, now: () => clock, everyMs: 3000 });
    for (let i = 0; i < 10; i++) {
      clock += 1000;
      progress.add(10e6);
    }
    progress.finish();
    // Drawn at 1 s, then at 4, 7 and 10 s; never with carriage returns.
    expect(lines).toEqual([
      'Uploading  10%  10.0 MB of 100.0 MB  10.0 MB/s\n',
      'Uploading  40%  40.0 MB of 100.0 MB  10.0 MB/s\n',
      'Uploading  70%  70.0 MB of 100.0 MB  10.0 MB/s\n',
      'Uploading 100%  100.0 MB of 100.0 MB  10.0 MB/s\n',
      'Uploaded 100.0 MB in 10.0s (10.0 MB/s).\n',
    ]);
  });

  it('on a terminal redraws one line in place with an ETA, and takes back bytes of a failed part', () => {
    let clock = 0;
    const lines: string[] = [];
    const progress = new Progress({ total: 100e6, write: (t) => void lines.push(t), isTTY: true, now: () => clock });
    clock = 1000;
    progress.add(20e6);
    clock = 2000;
    progress.add(-10e6);
    expect(lines).toEqual(['\rUploading  20%  20.0 MB of 100.0 MB  20.0 MB/s  ETA 4s\u001b[K', '\rUploading  10%  10.0 MB of 100.0 MB  5.0 MB/s  ETA 18s\u001b[K']);
  });

  it('the default version is a UTC timestamp that is a valid version', () => {
    expect(timestampVersion(new Date('2026-11-23T08:55:51.402Z'))).toBe('20261123.085551');
  });
});
