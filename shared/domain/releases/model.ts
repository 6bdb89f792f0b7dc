export type Release = {
  accountId: string;
  releaseId: string;
  appId: string;
  version: string;
  state: 'uploading' | 'ready';
  /** Set from the application's secure flag when the release is created; never changes. */
  encrypted: boolean;
  size: number;
  objectKey: string;
  digest?: string;
  createdBy: string;
  createdAt: string;
  completedAt?: string;
};
