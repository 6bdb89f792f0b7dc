import { buckets, queues, stateMachines, tables, type BucketName, type QueueName, type StateMachineName, type TableName } from './resources.ts';

/** Read at cold start: a function missing its configuration fails at once, not mid-request. */
const requireEnv = (name: string): string => {
  const value = process.env[name];
  if (!value) throw new Error(`Missing environment variable ${name}: the function is not bound to it`);
  return value;
};

export const tableName = (table: TableName): string => requireEnv(tables[table].envVar);
export const queueUrl = (queue: QueueName): string => requireEnv(queues[queue].envVar);
export const bucketName = (bucket: BucketName): string => requireEnv(buckets[bucket].envVar);
export const stateMachineArn = (machine: StateMachineName): string => requireEnv(stateMachines[machine].envVar);
/** The API's public URL, for functions bound to mail or to it (`publicUrl`): links and passkey origins name it. */
export const publicApiUrl = (): string => requireEnv('PUBLIC_API_URL');
export const mailFrom = (): string => requireEnv('MAIL_FROM');
