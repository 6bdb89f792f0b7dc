/**
 * What the local stack did, counted where each service is emulated, so the cost model
 * (bench/cost-model.ts) can price one deployment from the calls it really made. A process-wide
 * registry: the bench runs the stack in-process, resets it, acts, and reads a snapshot.
 * Counting is a few map increments; nothing here changes what any service answers.
 */
export type LocalMetrics = {
  /** Per catalog function: invocations and billed milliseconds (each run rounded up to 1 ms, as Lambda bills). */
  lambda: Record<string, { invocations: number; billedMs: number }>;
  /** Per route key of the HTTP API (`METHOD /path`), plus `unmatched`. */
  httpApi: Record<string, number>;
  /** Step Functions states entered plus retries: what Standard workflows bill as state transitions. */
  stateTransitions: number;
  /** Request counts per operation, and capacity units as DynamoDB meters them (only with `countRequests`). */
  dynamodb: { requests: Record<string, number>; readUnits: number; writeUnits: number; indexWriteUnits: number; failedConditionalWrites: number };
  /** SQS requests per operation; `ReceiveMessage` is split into `ReceiveMessage` (got messages) and `ReceiveMessage (empty)`. */
  sqs: Record<string, number>;
  /** S3 requests per HTTP method (only with `countRequests`). */
  s3: Record<string, number>;
};

const empty = (): LocalMetrics => ({
  lambda: {},
  httpApi: {},
  stateTransitions: 0,
  dynamodb: { requests: {}, readUnits: 0, writeUnits: 0, indexWriteUnits: 0, failedConditionalWrites: 0 },
  sqs: {},
  s3: {},
});

let current = empty();

export const countIn = (counts: Record<string, number>, key: string, by = 1): void => {
  counts[key] = (counts[key] ?? 0) + by;
};

export const localMetrics = {
  lambdaInvoked(name: string, elapsedMs: number): void {
    const entry = (current.lambda[name] ??= { invocations: 0, billedMs: 0 });
    entry.invocations += 1;
    entry.billedMs += Math.max(1, Math.ceil(elapsedMs));
  },
  httpRequest(routeKey: string): void {
    countIn(current.httpApi, routeKey);
  },
  stateTransition(): void {
    current.stateTransitions += 1;
  },
  /** The live counters of the emulator wrappers (local/metrics-emulators.ts). */
  get dynamodb() {
    return current.dynamodb;
  },
  get sqs() {
    return current.sqs;
  },
  get s3() {
    return current.s3;
  },
  reset(): void {
    current = empty();
  },
  snapshot(): LocalMetrics {
    return structuredClone(current);
  },
};
