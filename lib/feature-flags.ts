import type { Construct } from 'constructs';

/**
 * Feature flags that change the registry's resources, as this repository's cdk.json sets them for
 * the whole app and the tests run. The registry pins them on its own scope, so that in any app,
 * whatever flags that app sets or leaves at their defaults, it synthesizes what its tests check.
 *
 * Two more in cdk.json change it, and are read at the stack, so the app's setting holds there:
 * `@aws-cdk/aws-iam:minimizePolicies` (merged and sorted policy statements, the same grants) and
 * `@aws-cdk/core:enablePartitionLiterals` (`arn:aws:` rather than `arn:${AWS::Partition}:` in ARNs).
 */
export const REGISTRY_FEATURE_FLAGS = {
  // Access logs are delivered under the log bucket's policy. Without it through an ACL, which a
  // bucket with enforced object ownership refuses: the synth fails.
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  // The stack owns the policy that lets the uploader VPC's flow logs into the log bucket, rather than
  // the log service writing one of its own beside it.
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  // The uploader VPC's default security group admits and lets out nothing.
  '@aws-cdk/aws-ec2:restrictDefaultSecurityGroup': true,
  // The uploader service: the circuit breaker without an explicit deployment controller, and no
  // deployment alarm configuration beside it.
  '@aws-cdk/aws-ecs:disableExplicitDeploymentControllerForCircuitBreaker': true,
  '@aws-cdk/aws-ecs:removeDefaultDeploymentAlarm': true,
} as const;

/** Sets the registry's feature flags on `scope`, which must have no children yet. */
export function pinFeatureFlags(scope: Construct): void {
  for (const [flag, value] of Object.entries(REGISTRY_FEATURE_FLAGS)) scope.node.setContext(flag, value);
}
