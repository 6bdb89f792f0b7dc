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
  /** Set for single uploads: the staging key the upload URL writes, copied to objectKey at completion. */
  uploadKey?: string;
  digest?: string;
  createdBy: string;
  createdAt: string;
  completedAt?: string;
  /** The pusher's signed manifest (base64url). */
  manifest?: string;
  /** Whose vouched key the manifest verified under at completion, and that key's fingerprint. */
  signer?: ReleaseSigner;
  /** The key server last asked to seal the release key, and when it took the request. */
  sealRequest?: SealRequest;
  /** Master key version the release key is wrapped under, once sealed. */
  masterVersion?: number;
};

/** The person whose owner-vouched release-signing key signed the manifest, and the key's fingerprint (SHA-256 hex). */
export type ReleaseSigner = { userId: string; fingerprint: string };

export type SealRequest = { requestId: string; agentId: string; sentAt: string; acknowledgedAt?: string };
