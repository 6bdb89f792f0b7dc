import { describe, expect, it } from 'vitest';
import { costLines, gbSeconds, PRICES, totalUsd, type Usage } from '../../../bench/support/prices.ts';

const nothing: Usage = { lambda: [], stateTransitions: 0, dynamoDb: { readUnits: 0, writeUnits: 0 }, sqsRequests: 0, s3: { writes: 0, reads: 0 }, mails: 0, httpApiRequests: 0 };

const usdOf = (usage: Usage, service: string) => costLines(usage).find((line) => line.service === service)!.usd;

describe('cost arithmetic', () => {
  it('GB-seconds: configured memory in GB (1,024 MB) times billed seconds', () => {
    expect(gbSeconds(1024, 1000)).toBe(1);
    expect(gbSeconds(256, 100)).toBe(0.025);
  });

  it('prices each unit at its list price per its block', () => {
    expect(usdOf({ ...nothing, stateTransitions: 1000 }, 'Step Functions')).toBeCloseTo(0.025, 12);
    expect(usdOf({ ...nothing, dynamoDb: { readUnits: 0, writeUnits: 1e6 } }, 'DynamoDB writes')).toBeCloseTo(0.625, 12);
    expect(usdOf({ ...nothing, dynamoDb: { readUnits: 2e6, writeUnits: 0 } }, 'DynamoDB reads')).toBeCloseTo(0.25, 12);
    expect(usdOf({ ...nothing, sqsRequests: 5e6 }, 'SQS')).toBeCloseTo(2, 12);
    expect(usdOf({ ...nothing, mails: 3000 }, 'SES')).toBeCloseTo(0.3, 12);
    expect(usdOf({ ...nothing, httpApiRequests: 1e6 }, 'HTTP API')).toBeCloseTo(1, 12);
    expect(usdOf({ ...nothing, s3: { writes: 1000, reads: 1000 } }, 'S3 writes')).toBeCloseTo(0.005, 12);
    expect(usdOf({ ...nothing, s3: { writes: 1000, reads: 1000 } }, 'S3 reads')).toBeCloseTo(0.0004, 12);
  });

  it('Lambda: requests summed over functions, duration from each function\'s own memory', () => {
    const usage: Usage = {
      ...nothing,
      lambda: [
        { name: 'a', invocations: 3, billedMs: 1000, memoryMb: 1024 },
        { name: 'b', invocations: 1, billedMs: 2000, memoryMb: 512 },
      ],
    };
    const lines = costLines(usage);
    expect(lines.find((l) => l.service === 'Lambda requests')!.quantity).toBe(4);
    expect(lines.find((l) => l.service === 'Lambda duration')!.quantity).toBe(2);
    expect(usdOf(usage, 'Lambda duration')).toBeCloseTo(2 * PRICES.lambdaArmGbSecond.usd, 15);
    expect(usdOf(usage, 'Lambda requests')).toBeCloseTo(4 * 0.2e-6, 15);
  });

  it('the total is the sum of the lines, and nothing used costs nothing', () => {
    const usage: Usage = { ...nothing, stateTransitions: 10, mails: 2, httpApiRequests: 4 };
    expect(totalUsd(costLines(usage))).toBeCloseTo(10 * 0.025e-3 + 2 * 0.1e-3 + 4e-6, 15);
    expect(totalUsd(costLines(nothing))).toBe(0);
  });

  it('every price names the page it comes from', () => {
    for (const price of Object.values(PRICES)) expect(price.source).toMatch(/pricing/i);
  });
});
