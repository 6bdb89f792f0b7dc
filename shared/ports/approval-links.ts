/** A single-use link for one approver and one deployment. Only the hash of its secret is stored. */
export type ApprovalLink = {
  secretHash: string;
  accountId: string;
  deploymentId: string;
  approverId: string;
  createdAt: string;
  expiresAt: string;
  usedAt?: string;
  usedFor?: string;
};

export interface ApprovalLinkStore {
  put(link: ApprovalLink): Promise<void>;
  get(secretHash: string): Promise<ApprovalLink | undefined>;
  /** Marks the link used for `action`, once; false if it already was. */
  claim(secretHash: string, action: string, at: string): Promise<boolean>;
}

export type Mail = { to: string; subject: string; text: string; html: string };

export interface Mailer {
  send(mail: Mail): Promise<void>;
}
