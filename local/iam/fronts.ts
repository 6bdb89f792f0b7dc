import { LOCAL_ACCOUNT, LOCAL_REGION } from '../lambda-runtime.ts';
import { startIamFront } from './front.ts';
import type { IamGate } from './gate.ts';
import { dynamodbChecks, emailAddress, s3Checks, sesChecks, sesRecipients, sqsChecks, stepFunctionsChecks } from './requests.ts';

export type FrontsOptions = {
  gate: IamGate;
  ports: { dynamodb: number; s3: number; sqs: number; ses: number; stepFunctions: number };
  upstreams: { dynamodb: string; fauxqs: string; ses: string; stepFunctions: string };
  stateMachineOfToken: (token: string) => string | undefined;
  /** Only the sender's own domain is a verified identity, as on a new account. */
  sesSandbox: boolean;
  onDenied: (line: string) => void;
};

/** The IAM fronts of every emulator (front.ts), on the ports the stack publishes. */
export const startIamFronts = async (options: FrontsOptions) => {
  const { gate, ports, upstreams, onDenied } = options;
  const dynamodb = await startIamFront({ service: 'DynamoDB', protocol: 'json', upstream: upstreams.dynamodb, port: ports.dynamodb, gate, checks: dynamodbChecks, readsBody: true, onDenied });
  const s3 = await startIamFront({
    service: 'S3',
    protocol: 's3',
    upstream: upstreams.fauxqs,
    port: ports.s3,
    gate,
    checks: s3Checks,
    readsBody: false,
    mayList: async (request, principal) => {
      const bucket = request.url.pathname.split('/')[1];
      return (await gate.check(principal, 's3:ListBucket', `arn:aws:s3:::${bucket}`)).allowed;
    },
    onDenied,
  });
  const sqs = await startIamFront({ service: 'SQS', protocol: 'sqs', upstream: upstreams.fauxqs, port: ports.sqs, gate, checks: sqsChecks, readsBody: true, onDenied });
  const ses = await startIamFront({
    service: 'SES',
    protocol: 'rest-json',
    upstream: upstreams.ses,
    port: ports.ses,
    gate,
    checks: sesChecks,
    readsBody: true,
    // The SES sandbox: a recipient must be a verified identity, and sending to it is authorized
    // on that identity too (which a grant on the sender's domain alone does not cover).
    refuse: async (request, principal) => {
      if (!options.sesSandbox || sesChecks(request).length === 0) return undefined;
      const [sender] = sesChecks(request);
      const verifiedDomain = sender!.resource.split('identity/')[1]!;
      const unverified = sesRecipients(request).filter((address) => address.split('@')[1] !== verifiedDomain);
      if (unverified.length > 0) {
        return {
          status: 400,
          code: 'MessageRejected',
          message: `Email address is not verified. The following identities failed the check in region ${LOCAL_REGION.toUpperCase()}: ${unverified.join(', ')}`,
        };
      }
      for (const recipient of sesRecipients(request)) {
        const resource = `arn:aws:ses:${LOCAL_REGION}:${LOCAL_ACCOUNT}:identity/${emailAddress(recipient)}`;
        const decision = await gate.check(principal, 'ses:SendEmail', resource);
        if (!decision.allowed) return { status: 403, code: 'AccessDenied', message: decision.message };
      }
      return undefined;
    },
    onDenied,
  });
  const stepFunctions = await startIamFront({
    service: 'Step Functions',
    protocol: 'json',
    upstream: upstreams.stepFunctions,
    port: ports.stepFunctions,
    gate,
    checks: stepFunctionsChecks(options.stateMachineOfToken),
    readsBody: true,
    onDenied,
  });
  const all = [dynamodb, s3, sqs, ses, stepFunctions];
  return {
    urls: { dynamodb: dynamodb.url, s3: s3.url, sqs: sqs.url, ses: ses.url, stepFunctions: stepFunctions.url },
    close: async () => {
      await Promise.all(all.map((front) => front.close()));
    },
  };
};
