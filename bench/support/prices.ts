/**
 * AWS list prices (us-east-1, first tier, no free tier) for what one deployment uses, and the
 * arithmetic from counts to dollars. Each price names AWS's pricing page and, where the figure was
 * read from a page quoting it rather than from AWS's own, that page; `PRICES_READ_ON` says when.
 * Check the quoted ones against AWS's pages when updating.
 */
export const PRICES_READ_ON = '2026-11-30';

export type Price = { usd: number; per: number; unit: string; source: string };

export const PRICES = {
  lambdaRequests: { usd: 0.2, per: 1e6, unit: 'requests', source: 'AWS Lambda pricing (aws.amazon.com/lambda/pricing), requests (same for Arm and x86); figure as quoted by the lambda_local_runner notes "Cost" (lambda-13-cost.md)' },
  lambdaArmGbSecond: { usd: 0.0000133334, per: 1, unit: 'GB-s', source: 'AWS Lambda pricing, Arm duration, first 7.5 billion GB-s per month; figure as quoted by cloudchipr.com "AWS Lambda Pricing Breakdown"' },
  stepFunctionsTransitions: { usd: 0.025, per: 1000, unit: 'state transitions', source: 'AWS Step Functions pricing (aws.amazon.com/step-functions/pricing), Standard workflows, US East (N. Virginia)' },
  dynamoDbWrites: { usd: 0.625, per: 1e6, unit: 'write request units', source: 'Amazon DynamoDB pricing for on-demand capacity (aws.amazon.com/dynamodb/pricing), write request units; figure as quoted by airbyte.com "DynamoDB Pricing"' },
  dynamoDbReads: { usd: 0.125, per: 1e6, unit: 'read request units', source: 'Amazon DynamoDB pricing for on-demand capacity, read request units; figure as quoted by airbyte.com "DynamoDB Pricing"' },
  sqsRequests: { usd: 0.4, per: 1e6, unit: 'requests', source: 'Amazon SQS pricing (aws.amazon.com/sqs/pricing), standard queue, first 100 billion requests per month; figure as quoted by cloudburn.io "Amazon SQS Pricing" (March 2026)' },
  sesMails: { usd: 0.1, per: 1000, unit: 'emails (one per recipient)', source: 'Amazon SES pricing (aws.amazon.com/ses/pricing), outbound email; figure as quoted by acecloudinterviews.com "SES"' },
  httpApiRequests: { usd: 1.0, per: 1e6, unit: 'requests', source: 'Amazon API Gateway pricing, HTTP APIs, first 300 million per month, as given in the AWS whitepaper "Best Practices for Designing Amazon API Gateway Private APIs", Cost optimization' },
  s3Writes: { usd: 0.005, per: 1000, unit: 'PUT/COPY/POST/LIST requests', source: 'Amazon S3 pricing (aws.amazon.com/s3/pricing), S3 Standard requests; figures as quoted by c3x.dev "S3 request fees explained"' },
  s3Reads: { usd: 0.0004, per: 1000, unit: 'GET/HEAD requests', source: 'Amazon S3 pricing, S3 Standard requests; figures as quoted by c3x.dev "S3 request fees explained"' },
} as const satisfies Record<string, Price>;

/** What one deployment used, in the units AWS bills. */
export type Usage = {
  lambda: { name: string; invocations: number; billedMs: number; memoryMb: number }[];
  stateTransitions: number;
  dynamoDb: { readUnits: number; writeUnits: number };
  sqsRequests: number;
  s3: { writes: number; reads: number };
  mails: number;
  httpApiRequests: number;
};

export type CostLine = { service: string; quantity: number; price: Price; usd: number };

const line = (service: string, quantity: number, price: Price): CostLine => ({ service, quantity, price, usd: (quantity * price.usd) / price.per });

/** GB-seconds as Lambda bills them: configured memory (1 GB = 1024 MB) times billed duration. */
export const gbSeconds = (memoryMb: number, billedMs: number): number => (memoryMb / 1024) * (billedMs / 1000);

export const costLines = (usage: Usage, prices: typeof PRICES = PRICES): CostLine[] => [
  line('Lambda requests', usage.lambda.reduce((sum, f) => sum + f.invocations, 0), prices.lambdaRequests),
  line('Lambda duration', usage.lambda.reduce((sum, f) => sum + gbSeconds(f.memoryMb, f.billedMs), 0), prices.lambdaArmGbSecond),
  line('Step Functions', usage.stateTransitions, prices.stepFunctionsTransitions),
  line('DynamoDB writes', usage.dynamoDb.writeUnits, prices.dynamoDbWrites),
  line('DynamoDB reads', usage.dynamoDb.readUnits, prices.dynamoDbReads),
  line('SQS', usage.sqsRequests, prices.sqsRequests),
  line('SES', usage.mails, prices.sesMails),
  line('HTTP API', usage.httpApiRequests, prices.httpApiRequests),
  line('S3 writes', usage.s3.writes, prices.s3Writes),
  line('S3 reads', usage.s3.reads, prices.s3Reads),
];

export const totalUsd = (lines: readonly CostLine[]): number => lines.reduce((sum, l) => sum + l.usd, 0);
