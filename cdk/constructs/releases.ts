import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { buckets, type BucketName } from '../../functions/resources.ts';
import type { DeclaredBucket } from './declared.ts';

/** Properties of {@link Releases}. */
export interface ReleasesProps {
  /**
   * Release packages are encrypted client-side and cheap to keep; keep them by default.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /** How long a replaced or deleted object version is kept. @default Duration.days(90) */
  readonly noncurrentVersionExpiration?: Duration;
  /** Retention of the server access logs. @default Duration.days(365) */
  readonly accessLogExpiration?: Duration;
}

const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

/**
 * The buckets declared in `functions/resources.ts` (the releases bucket): public access blocked,
 * SSE-S3, TLS enforced by bucket policy, versioned, ACLs disabled, server access logs to a
 * separate log bucket. Release objects are already encrypted by the pusher (DESIGN §5); SSE is
 * defence in depth, and S3-managed keys keep presigned URLs free of KMS grants.
 */
export class Releases extends Construct {
  public readonly buckets: Record<BucketName, DeclaredBucket>;
  /** Receives the server access logs of every bucket here. */
  public readonly accessLogs: s3.Bucket;

  constructor(scope: Construct, id: string, props: ReleasesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [{ expiration: props.accessLogExpiration ?? Duration.days(365) }],
      removalPolicy,
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'This is the server access log bucket; logging its own writes would recurse.',
    });

    const created = {} as Record<BucketName, DeclaredBucket>;
    for (const [name, declaration] of Object.entries(buckets) as [BucketName, { envVar: string }][]) {
      const bucket = new s3.Bucket(this, `${pascal(name)}Bucket`, {
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        encryption: s3.BucketEncryption.S3_MANAGED,
        enforceSSL: true,
        versioned: true,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        serverAccessLogsBucket: this.accessLogs,
        serverAccessLogsPrefix: `${name}/`,
        lifecycleRules: [
          {
            noncurrentVersionExpiration: props.noncurrentVersionExpiration ?? Duration.days(90),
            abortIncompleteMultipartUploadAfter: Duration.days(7),
          },
          // Single uploads land here and are copied next to their release when it completes
          // (STAGING_PREFIX in shared/domain/releases/releases.ts): nothing reads them after that.
          { prefix: 'staging/', expiration: Duration.days(2), noncurrentVersionExpiration: Duration.days(1) },
        ],
        removalPolicy,
      });
      created[name] = { bucket, envVar: declaration.envVar };
    }
    this.buckets = created;
  }
}
