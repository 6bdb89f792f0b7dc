import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';

// One of each per process. Log ids, never payloads: bodies may carry wrapped keys or tokens.
export const logger = new Logger({ serviceName: 'latchkey' });
export const tracer = new Tracer({ serviceName: 'latchkey' });
