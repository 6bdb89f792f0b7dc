import { createHash } from 'node:crypto';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { capturedEmails as capturedIn, linkIn } from '../../local/demo/mail.ts';
import { localClients, waitFor } from './clients.ts';

export type { StoredEmail } from '../../local/demo/mail.ts';

export const capturedEmails = () => capturedIn(inject('endpoints').sesStore);

export const emailsTo = async (address: string) => (await capturedEmails()).filter((email) => email.destination.to.includes(address));

/** Polls the local SES until `address` has mail; every address in a test account is new, so this is its mail. */
export const mailTo = (address: string, timeoutMs = 15_000) =>
  waitFor(`an email to ${address}`, async () => {
    const found = await emailsTo(address);
    return found.length ? found : undefined;
  }, timeoutMs);

export { linkIn };

/** The approval link mailed to `address` (the first approval email: a passkey registration email may come before it). */
export const approvalLinkFor = async (address: string, timeoutMs = 15_000) =>
  linkIn(
    await waitFor(`an approval email to ${address}`, async () => (await emailsTo(address)).find((email) => /\/approvals\/lka_/.test(email.body.text ?? ''))?.body.text, timeoutMs),
  );

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
