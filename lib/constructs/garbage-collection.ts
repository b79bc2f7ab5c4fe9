import { Duration, Stack, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import { LIFECYCLE_DEFAULTS } from '../../lambda/config/lifecycle';
import { jobFunction } from './functions';
import type { RegistryStorage } from './storage';

/** The objects the collector owns (docs/garbage-collection.md); upload staging is the sweeper's. */
const COLLECTED_PREFIXES = ['blobs/', 'manifests/'];

export interface RegistryLifecycleProps {
  /**
   * Anything written, linked or referenced more recently is never collected: the time a push may
   * take between uploading its blobs and putting its manifest. At least one hour.
   * @default Duration.days(1)
   */
  readonly gcGrace?: Duration;
  /**
   * How long untagged manifests (not listed by a live index, not referring to a live manifest) are
   * kept; `'never'` keeps them forever, so deleting tags frees nothing.
   * @default Duration.days(7)
   */
  readonly untaggedRetention?: Duration | 'never';
  /** Tags that may be set once and never moved: `{ repository: 'prod/*', tag: 'v*' }`. */
  readonly immutableTags?: readonly { readonly repository: string; readonly tag: string }[];
  /** Keep the newest `keepLast` matching tags; older ones are removed by the collector. */
  readonly tagRetention?: readonly { readonly repository: string; readonly tag: string; readonly keepLast: number }[];
  /**
   * Remove manifests (with their tags) neither pulled nor pushed for this long, in whole days, at
   * least one; immutable tags, the grace period and live indexes and subjects still keep them
   * (docs/garbage-collection.md). `policy set --not-pulled-days` overrides it.
   * @default - no such rule
   */
  readonly notPulledFor?: Duration;
  /**
   * When the collector runs.
   * @default Schedule.rate(Duration.days(1))
   */
  readonly gcSchedule?: Schedule;
}

export interface RegistryGarbageCollectionProps extends RegistryLifecycleProps {
  readonly storage: RegistryStorage;
  readonly logRetention?: RetentionDays;
}

/** The lifecycle settings as the functions read them (lambda/config/lifecycle.ts). */
export function lifecycleEnvironment(props: RegistryLifecycleProps): Record<string, string> {
  const grace = props.gcGrace?.toSeconds() ?? LIFECYCLE_DEFAULTS.gcGraceSeconds;
  if (grace < 3600)
    throw new Error('gcGrace must be at least one hour: pushes need that long between blobs and manifest');
  const rule = (r: { repository: string; tag: string }) => `${r.repository}:${r.tag}`;
  const untagged = props.untaggedRetention;
  const notPulled = props.notPulledFor?.toDays();
  if (notPulled !== undefined && notPulled < 1) throw new Error('notPulledFor must be at least one day');
  return {
    [ENV.gcGrace]: String(grace),
    [ENV.untaggedRetention]:
      untagged === 'never' ? 'never' : String(untagged?.toDays() ?? LIFECYCLE_DEFAULTS.untaggedRetentionDays),
    ...(props.immutableTags?.length ? { [ENV.immutableTags]: props.immutableTags.map(rule).join(',') } : {}),
    ...(props.tagRetention?.length
      ? { [ENV.tagRetention]: props.tagRetention.map((r) => `${rule(r)}=${r.keepLast}`).join(',') }
      : {}),
    ...(notPulled !== undefined ? { [ENV.notPulledFor]: String(notPulled) } : {}),
  };
}

/**
 * Online garbage collection (lambda/handlers/gc.ts) on a schedule: one consistent scan of the
 * metadata table, conditional deletes of what nothing reaches, and removal of the objects that go
 * with them. Its role can delete under `blobs/` and `manifests/` only, never upload staging or the
 * accounts table.
 */
export class RegistryGarbageCollection extends Construct {
  readonly collector: NodejsFunction;
  readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: RegistryGarbageCollectionProps) {
    super(scope, id);
    const { storage } = props;
    const { fn, role } = jobFunction(new Construct(this, 'Collector'), {
      handler: 'gc',
      description: 'OCI registry: online garbage collection',
      roleDescription: 'Registry garbage collector: scans the metadata table, deletes what nothing references',
      // The snapshot is held in memory (about 1 KB per item): 2 GB covers a couple of million items.
      memorySize: 2048,
      timeout: Duration.minutes(15),
      environment: lifecycleEnvironment(props),
      logRetention: props.logRetention,
    });
    this.collector = fn;
    storage.bind(this.collector);

    // Exactly the calls GarbageCollector makes through DynamoDbGcStore, DynamoDbPolicyStore and S3BlobStore.
    const { table, bucket } = storage;
    role.addToPolicy(
      new PolicyStatement({
        actions: [
          'dynamodb:Scan',
          'dynamodb:GetItem',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
        ],
        resources: [table.tableArn],
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': COLLECTED_PREFIXES.map((p) => `${p}*`) } },
      }),
    );
    role.addToPolicy(
      new PolicyStatement({
        actions: ['s3:DeleteObject'],
        resources: COLLECTED_PREFIXES.map((p) => bucket.arnForObjects(`${p}*`)),
      }),
    );
    role.addToPolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [bucket.arnForObjects('manifests/*')] }),
    );
    const bucketId = Stack.of(this).getLogicalId(bucket.node.defaultChild as CfnBucket);
    for (const prefix of COLLECTED_PREFIXES) {
      Validations.of(role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${prefix}*]`,
        reason: `Object keys under ${prefix} are digests and random suffixes known only at run time; the grant is limited to that prefix of the registry bucket.`,
      });
    }

    this.schedule = new Rule(this, 'Schedule', {
      description: 'Runs the registry garbage collector',
      schedule: props.gcSchedule ?? Schedule.rate(Duration.days(1)),
      targets: [new LambdaFunction(this.collector, { retryAttempts: 1, maxEventAge: Duration.hours(6) })],
    });
  }

  /** Gives a function that puts manifests the immutable-tag rules (it reads the stored policy already). */
  static bindPolicy(
    fn: IFunction & { addEnvironment(key: string, value: string): unknown },
    props: RegistryLifecycleProps,
  ): void {
    for (const [key, value] of Object.entries(lifecycleEnvironment(props))) fn.addEnvironment(key, value);
  }
}
