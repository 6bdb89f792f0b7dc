/**
 * The session policy an agent's credentials are assumed with: it can only take requests off
 * its own queue and put messages on the reply queue. STS intersects it with the agent role's
 * own policy, so even a bug in the role cannot widen what one agent's credentials reach.
 */
export const agentSessionPolicy = (queues: { agentQueueArn: string; replyQueueArn: string }) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'OwnRequestQueue',
      Effect: 'Allow',
      Action: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
      Resource: queues.agentQueueArn,
    },
    {
      Sid: 'SharedReplyQueue',
      Effect: 'Allow',
      Action: ['sqs:SendMessage'],
      Resource: queues.replyQueueArn,
    },
  ],
});

/** The AWS partition a region belongs to. */
export const partitionOf = (region: string) => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');

/** An SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>) as its ARN. */
export const queueArnOf = (queueUrl: string): string => {
  const url = new URL(queueUrl);
  const [, account, name] = url.pathname.split('/');
  const region = /^sqs\.([a-z0-9-]+)\./.exec(url.hostname)?.[1];
  if (!region || !account || !name) throw new Error(`Not an SQS queue URL: ${queueUrl}`);
  return `arn:${partitionOf(region)}:sqs:${region}:${account}:${name}`;
};
