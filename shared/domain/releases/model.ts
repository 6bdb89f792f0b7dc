export type Release = {
  accountId: string;
  releaseId: string;
  appId: string;
  version: string;
  state: 'uploading' | 'sealing' | 'ready';
  /** Set from the application's secure flag when the release is created; never changes. */
  encrypted: boolean;
  size: number;
  objectKey: string;
  /** Set for multipart uploads. */
  uploadId?: string;
  digest?: string;
  createdBy: string;
  createdAt: string;
  completedAt?: string;
  /** The pusher's signed manifest (base64url). */
  manifest?: string;
  /** The key server last asked to seal the release key, and when it took the request. */
  sealRequest?: SealRequest;
  /** Master key version the release key is wrapped under, once sealed. */
  masterVersion?: number;
};

export type SealRequest = { requestId: string; agentId: string; sentAt: string; acknowledgedAt?: string };
