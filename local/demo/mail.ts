/** One email as the local SES keeps it at GET <ses>/store. */
export type StoredEmail = {
  messageId: string;
  from: string;
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { text?: string; html?: string };
  /** Seconds since the epoch. */
  at: number;
};

export const capturedEmails = async (sesStore: string): Promise<StoredEmail[]> => {
  const response = await fetch(sesStore);
  if (!response.ok) throw new Error(`The local SES store answered ${response.status}`);
  return ((await response.json()) as { emails: StoredEmail[] }).emails;
};

const LINK = /(https?:\/\/[^\s"<>]+\/approvals\/(lka_[A-Za-z0-9_-]{43}))/;

/** The approval link in an email's text part. */
export const linkIn = (text: string | undefined): { url: string; secret: string } => {
  const match = LINK.exec(text ?? '');
  if (!match) throw new Error(`No approval link in: ${text}`);
  return { url: match[1]!, secret: match[2]! };
};
