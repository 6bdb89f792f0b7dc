import { createHash } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { localClients, waitFor } from './clients.ts';

/** One email as the local SES keeps it at GET <ses>/store. */
export type StoredEmail = {
  messageId: string;
  from: string;
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { text?: string; html?: string };
  at: number;
};

export const capturedEmails = async (): Promise<StoredEmail[]> => {
  const response = await fetch(inject('endpoints').sesStore);
  if (!response.ok) throw new Error(`The local SES store answered ${response.status}`);
  return ((await response.json()) as { emails: StoredEmail[] }).emails;
};

export const emailsTo = async (address: string) => (await capturedEmails()).filter((email) => email.destination.to.includes(address));

/** Polls the local SES until `address` has mail; every address in a test account is new, so this is its mail. */
export const mailTo = (address: string, timeoutMs = 15_000) =>
  waitFor(`an email to ${address}`, async () => {
    const found = await emailsTo(address);
    return found.length ? found : undefined;
  }, timeoutMs);

const LINK = /(https?:\/\/[^\s"<>]+\/approvals\/(lka_[A-Za-z0-9_-]{43}))/;

/** The approval link in an email's text part. */
export const linkIn = (text: string | undefined): { url: string; secret: string } => {
  const match = LINK.exec(text ?? '');
  if (!match) throw new Error(`No approval link in: ${text}`);
  return { url: match[1]!, secret: match[2]! };
};

/** The approval link mailed to `address`. */
export const approvalLinkFor = async (address: string) => linkIn((await mailTo(address))[0]!.body.text);

/** The stored link item itself, read straight from DynamoDB (by the hash of its secret). */
export const storedLink = async (secret: string) => {
  const { dynamo, env } = localClients();
  const secretHash = createHash('sha256').update(secret, 'utf8').digest('hex');
  const { Item } = await dynamo.send(new GetCommand({ TableName: env.DEPLOYMENTS_TABLE!, Key: { pk: `LINK#${secretHash}`, sk: 'LINK' }, ConsistentRead: true }));
  return Item;
};

export type Page = { status: number; headers: Headers; html: string };

export const openPage = async (url: string): Promise<Page> => {
  const response = await fetch(url, { redirect: 'manual' });
  return { status: response.status, headers: response.headers, html: await response.text() };
};

/** Submits the approval form (or any body, to test refusals). */
export const submitForm = async (url: string, body: Record<string, string> | string, contentType = 'application/x-www-form-urlencoded'): Promise<Page> => {
  const response = await fetch(url, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': contentType },
    body: typeof body === 'string' ? body : new URLSearchParams(body).toString(),
  });
  return { status: response.status, headers: response.headers, html: await response.text() };
};
