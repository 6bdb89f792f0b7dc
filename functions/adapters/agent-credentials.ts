import type { STSClient } from '@aws-sdk/client-sts';
import { agentSessionPolicy, queueArnOf } from '#shared/domain/agents/session-policy.ts';
import type { CredentialIssuer } from '#shared/ports/agent-store.ts';

export const CREDENTIAL_SECONDS = 900;

let sts: STSClient | undefined;

/**
 * In the cloud: STS, with a session policy naming exactly this agent's queue and the reply queue.
 * The STS client loads on first use: only the session route hands out credentials, and the
 * functions that share its composition root never do.
 */
export const stsCredentials = (roleArn: string, replyQueueUrl: string): CredentialIssuer => ({
  issue: async ({ agentId, queueUrl }) => {
    sts ??= new (await import('@aws-sdk/client-sts')).STSClient({});
    const AssumeRoleCommand = (await import('@aws-sdk/client-sts')).AssumeRoleCommand;
    const { Credentials } = await sts.send(
      new AssumeRoleCommand({
        RoleArn: roleArn,
        RoleSessionName: agentId,
        DurationSeconds: CREDENTIAL_SECONDS,
        Policy: JSON.stringify(agentSessionPolicy({ agentQueueArn: queueArnOf(queueUrl), replyQueueArn: queueArnOf(replyQueueUrl) })),
      }),
    );
    return {
      accessKeyId: Credentials!.AccessKeyId!,
      secretAccessKey: Credentials!.SecretAccessKey!,
      sessionToken: Credentials!.SessionToken!,
      expiration: Credentials!.Expiration!.toISOString(),
    };
  },
});

/** On the local stack, whose emulators accept any credentials: the same shape, nothing real. */
export const localCredentials = (): CredentialIssuer => ({
  issue: async () => ({
    accessKeyId: 'local',
    secretAccessKey: 'local',
    expiration: new Date(Date.now() + CREDENTIAL_SECONDS * 1000).toISOString(),
  }),
});
