import { Logger } from '@aws-lambda-powertools/logger';

// One per process. Log ids, never payloads: bodies may carry wrapped keys or tokens. Tracing is
// Lambda's active tracing alone (no X-Ray SDK in the functions, DESIGN-issue 18): every log
// line carries the invocation's trace id (`xray_trace_id`, from _X_AMZN_TRACE_ID), which is
// how a log line and its trace are found together.
export const logger = new Logger({ serviceName: 'latchkey' });
