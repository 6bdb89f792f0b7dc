import type { SessionSource } from './session.ts';

/** One request message as the loop sees it; the port keeps the loop testable without SQS. */
export interface ReceivedMessage {
  messageId: string;
  receiptHandle: string;
  body: string;
  /** How many times SQS has handed this message out (1 the first time). */
  receiveCount: number;
}

export interface AgentQueue {
  receive(waitSeconds: number, signal: AbortSignal): Promise<ReceivedMessage[]>;
  delete(receiptHandle: string): Promise<void>;
  /** Sends to the shared reply queue (replies and heartbeats). */
  send(body: string): Promise<void>;
  /** Closes connections so the process can exit. */
  close?(): void;
}

/** Errors that mean "these credentials are no longer good": renew the session and carry on. */
export const isCredentialError = (error: unknown) =>
  error instanceof Error &&
  /ExpiredToken|InvalidClientTokenId|UnrecognizedClient|AccessDenied|SignatureDoesNotMatch|InvalidAccessKeyId|InvalidSecurity/i.test(
    `${error.name} ${(error as { Code?: string }).Code ?? ''}`,
  );

/**
 * The SQS adapter. One client per process (region and endpoint come from the first session);
 * its credentials are a provider over the session source, so renewals need no new client.
 * Queue URLs are read from the current session each time, so a renewed session wins.
 * The SDK is imported here, not at the top: only `run` needs it, and loading it is most of what
 * an agent start would cost (`--version`, `show`, `init`; bench/cli-startup.ts).
 */
export const createSqsQueue = async (sessions: SessionSource): Promise<AgentQueue> => {
  const { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } = await import('@aws-sdk/client-sqs');
  const first = await sessions.current();
  const client = new SQSClient({
    region: first.region,
    ...(first.sqsEndpoint ? { endpoint: first.sqsEndpoint } : {}),
    credentials: async () => {
      const { credentials } = await sessions.current();
      return {
        accessKeyId: credentials.accessKeyId,
        secretAccessKey: credentials.secretAccessKey,
        ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
        expiration: new Date(credentials.expiration),
      };
    },
  });

  return {
    async receive(waitSeconds, signal) {
      const { queueUrl } = await sessions.current();
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          WaitTimeSeconds: waitSeconds,
          MaxNumberOfMessages: 10,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
        { abortSignal: signal },
      );
      return Messages.flatMap((m) =>
        m.MessageId && m.ReceiptHandle
          ? [{ messageId: m.MessageId, receiptHandle: m.ReceiptHandle, body: m.Body ?? '', receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1) }]
          : [],
      );
    },
    async delete(receiptHandle) {
      const { queueUrl } = await sessions.current();
      await client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
    },
    async send(body) {
      const { replyQueueUrl } = await sessions.current();
      await client.send(new SendMessageCommand({ QueueUrl: replyQueueUrl, MessageBody: body }));
    },
    close: () => client.destroy(),
  };
};
