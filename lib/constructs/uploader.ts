import { Aws, CfnCondition, CfnMapping, CfnResource, Duration, Fn, Stack, Token, Validations } from 'aws-cdk-lib';
import {
  FlowLogDestination,
  GatewayVpcEndpointAwsService,
  Peer,
  Port,
  SecurityGroup,
  SubnetType,
  Vpc,
} from 'aws-cdk-lib/aws-ec2';
import {
  Cluster,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
  type ContainerDefinition,
} from 'aws-cdk-lib/aws-ecs';
import { ApplicationLoadBalancer, ApplicationProtocol } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { AccountPrincipal, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { TARGET_PARTITIONS } from 'aws-cdk-lib/cx-api';
import { Fact, FactName, RegionInfo } from 'aws-cdk-lib/region-info';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import { GROUP_DIMENSION, METRICS_NAMESPACE, REGISTRY_METRICS, SERVICE_NAME } from '../../lambda/config/observability';
import { maxStreamsFor } from '../../lambda/config/uploader';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { uploaderImage } from '../bundling/code';
import type { StorageGrantee } from './storage';

/** The port `lambda/uploader/main.ts` listens on (its `PORT`, and the Dockerfile's `EXPOSE`). */
export const UPLOADER_PORT = 8080;

/** The uploader's task size and scaling, in one place. */
export const UPLOADER_DEFAULTS = {
  // Hashing (SHA-256 in JS/WASM) and TLS to S3 are the CPU work; memory holds the parts in flight
  // (4 concurrent 16 MiB parts per streamed request, lambda/handlers/wiring/limits.ts) for a few requests.
  cpu: 1024,
  memoryLimitMiB: 2048,
  minCapacity: 1,
  maxCapacity: 4,
  cpuTargetPercent: 60,
  // A streamed upload keeps bytes flowing, so it is never idle; the timeout only ends connections
  // on which nothing moves (a stalled client), and must outlast the time the uploader takes between
  // the last byte received and its answer (the last parts and CompleteMultipartUpload).
  loadBalancerIdleTimeout: Duration.seconds(300),
  // A deploy or scale-in first drains the task: the load balancer lets its uploads go on this long
  // (no new ones reach it), then ECS stops it with SIGTERM and, after stopTimeout, SIGKILL. An upload
  // still running after both is cut, and its client pushes it again.
  deregistrationDelay: Duration.minutes(15),
  stopTimeout: Duration.minutes(2),
  /** Average streams in flight per task that autoscaling aims at, as a share of the task's limit. */
  streamsTargetShare: 0.5,
  logRetention: RetentionDays.ONE_MONTH,
} as const;

export interface RegistryUploaderProps {
  /** Deepest repository name served; the uploader answers NAME_INVALID beyond it, like the functions. */
  readonly maxNameDepth: number;
  /** Where the load balancer's access logs and the VPC's flow logs go (SSE-S3, owner-enforced). */
  readonly logBucket: IBucket;
  /** The path the registry is served under behind a reverse proxy (`OciRegistryProps.pathPrefix`). */
  readonly pathPrefix?: string;
  /**
   * How long container logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
}

/**
 * The upload data path's server: `lambda/uploader` in a container on ECS Fargate (arm64), behind an
 * internal Application Load Balancer that only CloudFront reaches (through a VPC origin).
 *
 * Networking, chosen for idle cost: a VPC of its own over two AZs with no NAT gateway.
 * - Tasks run in public subnets with a public IPv4 address ($3.65/month each) and reach ECR and
 *   CloudWatch Logs over the internet gateway; their security group admits nothing but the load
 *   balancer and lets out only HTTPS (and the ports of a pull-through cache's upstreams, `allowUpstreamPort`). The alternative, isolated subnets with interface endpoints for
 *   ECR (api, dkr) and CloudWatch Logs, costs about $7.30/month per endpoint per AZ: $43.80/month for
 *   three endpoints in two AZs, twelve times the address of the one task that runs when idle.
 * - S3 and DynamoDB are reached through gateway endpoints (free), so upload bytes stay on the AWS
 *   network. They keep the default (full) endpoint policy: ECR serves image layers from S3 too.
 * - The load balancer sits in isolated subnets with no route to the internet. A CloudFront VPC
 *   origin still needs an internet gateway attached to the VPC; the public subnets provide it.
 *
 * The task role is bare: the caller grants storage access through `grantee` (RegistryStorage's grant
 * methods, the same ones the functions get), which also sets the environment the code reads.
 */
export class RegistryUploader extends Construct {
  readonly vpc: Vpc;
  readonly loadBalancer: ApplicationLoadBalancer;
  readonly taskDefinition: FargateTaskDefinition;
  readonly container: ContainerDefinition;
  readonly service: FargateService;
  /** Storage grants and their environment variables land on the task role and the container. */
  readonly grantee: StorageGrantee;
  /** The tasks' security group: in from the load balancer only, out on 443 (and `allowUpstreamPort`'s). */
  readonly taskSecurityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: RegistryUploaderProps) {
    super(scope, id);

    this.vpc = new Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        { name: 'Tasks', subnetType: SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'LoadBalancer', subnetType: SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      gatewayEndpoints: {
        S3: { service: GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: GatewayVpcEndpointAwsService.DYNAMODB },
      },
      flowLogs: {
        FlowLogs: { destination: FlowLogDestination.toS3(props.logBucket, 'uploader-vpc-flow-logs/') },
      },
    });

    const logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention ?? UPLOADER_DEFAULTS.logRetention,
    });
    this.taskDefinition = new FargateTaskDefinition(this, 'TaskDefinition', {
      cpu: UPLOADER_DEFAULTS.cpu,
      memoryLimitMiB: UPLOADER_DEFAULTS.memoryLimitMiB,
      runtimePlatform: {
        cpuArchitecture: CpuArchitecture.ARM64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
    });
    this.container = this.taskDefinition.addContainer('Uploader', {
      // Built from lambda/uploader/Dockerfile: from the sources in this repository, from the bundle
      // npm pack prebuilt in the package (lib/bundling/code.ts).
      image: uploaderImage(),
      logging: LogDrivers.awsLogs({ logGroup, streamPrefix: 'uploader' }),
      portMappings: [{ containerPort: UPLOADER_PORT }],
      // The server writes nothing to disk: bodies stream from the socket into S3 parts held in
      // memory (checked under strace: no file is opened for writing, /tmp included).
      readonlyRootFilesystem: true,
      // Fargate's longest: time for uploads in flight to finish after SIGTERM (the server stops
      // taking connections and exits once the last one ends).
      stopTimeout: UPLOADER_DEFAULTS.stopTimeout,
      environment: {
        PORT: String(UPLOADER_PORT),
        // Bodies streamed at once, from the task's memory; more wait (lambda/uploader/admission.ts).
        [ENV.uploaderMaxStreams]: String(maxStreamsFor(UPLOADER_DEFAULTS.memoryLimitMiB)),
        [ENV.maxNameDepth]: String(props.maxNameDepth),
        ...(props.pathPrefix ? { [ENV.pathPrefix]: props.pathPrefix } : {}),
        // Fargate sets it too; explicit, so the SDK never has to guess.
        AWS_REGION: Stack.of(this).region,
      },
    });
    const taskDefinition = this.taskDefinition;
    const container = this.container;
    this.grantee = {
      role: taskDefinition.taskRole,
      addEnvironment: (name, value) => container.addEnvironment(name, value),
      addToRolePolicy: (statement) => taskDefinition.addToTaskRolePolicy(statement),
    };

    this.taskSecurityGroup = new SecurityGroup(this, 'TaskSecurityGroup', {
      vpc: this.vpc,
      description: 'Registry uploader tasks: in from the load balancer only, out to AWS APIs over HTTPS',
      allowAllOutbound: false,
    });
    const taskSecurityGroup = this.taskSecurityGroup;
    // ECR, CloudWatch Logs, S3 and DynamoDB (the last two through the gateway endpoints) all speak HTTPS.
    taskSecurityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(443), 'AWS APIs over HTTPS');

    const cluster = new Cluster(this, 'Cluster', { vpc: this.vpc });
    this.service = new FargateService(this, 'Service', {
      cluster,
      taskDefinition: this.taskDefinition,
      desiredCount: UPLOADER_DEFAULTS.minCapacity,
      // Public subnets and addresses instead of NAT or interface endpoints: see the class comment.
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      assignPublicIp: true,
      securityGroups: [taskSecurityGroup],
      // Start the new task before stopping the old one, and roll back a deployment that never turns healthy.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
      healthCheckGracePeriod: Duration.seconds(30),
    });
    const scaling = this.service.autoScaleTaskCount({
      minCapacity: UPLOADER_DEFAULTS.minCapacity,
      maxCapacity: UPLOADER_DEFAULTS.maxCapacity,
    });
    scaling.scaleOnCpuUtilization('Cpu', { targetUtilizationPercent: UPLOADER_DEFAULTS.cpuTargetPercent });
    // Streaming uploads are bound by memory and connections more than by CPU: scale on the streams
    // each task holds (the uploader's UploadsInFlight metric, one sample per admitted upload).
    scaling.scaleToTrackCustomMetric('Streams', {
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: REGISTRY_METRICS.uploadsInFlight,
        dimensionsMap: { service: SERVICE_NAME, [GROUP_DIMENSION]: 'uploader' },
        statistic: 'Average',
        period: Duration.minutes(1),
      }),
      targetValue: Math.max(1, maxStreamsFor(UPLOADER_DEFAULTS.memoryLimitMiB) * UPLOADER_DEFAULTS.streamsTargetShare),
    });

    this.loadBalancer = new ApplicationLoadBalancer(this, 'LoadBalancer', {
      vpc: this.vpc,
      internetFacing: false,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_ISOLATED },
      idleTimeout: UPLOADER_DEFAULTS.loadBalancerIdleTimeout,
      dropInvalidHeaderFields: true,
    });
    logAccess(this.loadBalancer, props.logBucket, 'uploader-alb');
    // HTTP inside the VPC: CloudFront terminates TLS, and the hop from its VPC origin interface to
    // this internal load balancer never leaves the AWS network. HTTPS here would need a certificate
    // for a name CloudFront sends as SNI, which the default *.cloudfront.net domain cannot provide.
    const listener = this.loadBalancer.addListener('Http', {
      port: 80,
      protocol: ApplicationProtocol.HTTP,
      open: true,
    });
    listener.addTargets('Uploader', {
      port: UPLOADER_PORT,
      protocol: ApplicationProtocol.HTTP,
      targets: [this.service],
      deregistrationDelay: UPLOADER_DEFAULTS.deregistrationDelay,
      healthCheck: {
        path: '/healthz',
        healthyHttpCodes: '200',
        interval: Duration.seconds(10),
        timeout: Duration.seconds(5),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 3,
      },
    });

    for (const securityGroup of this.loadBalancer.connections.securityGroups) {
      Validations.of(securityGroup).acknowledge({
        id: 'AwsSolutions-EC23',
        reason:
          'The load balancer is internal, in subnets without a route to the internet: nothing outside the VPC reaches it except CloudFront through its VPC origin. That traffic arrives from CloudFront addresses (the origin-facing managed prefix list, whose id differs per region and cannot be resolved in an environment-agnostic template), so the listener admits any source and the network placement is the boundary.',
      });
    }
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        "The environment holds resource names and settings only (bucket and table names, lifetimes, name depth, region, port and, with access control, the auth mode, service, accounts table name, signing key ARNs and public URL; with a pull-through cache, its rules with the ARNs of the upstream credentials' secrets), the same variables the Lambda functions get; no secret value is in it: upstream credentials are read from Secrets Manager at run time, and token signing keys never leave KMS.",
    });
    Validations.of(cluster).acknowledge({
      id: 'AwsSolutions-ECS4',
      reason:
        'One service of one to four tasks: the free ECS service metrics (CPU, memory; autoscaling uses them) and the load balancer metrics cover it, and Container Insights would add a fixed monthly charge to a stack that is meant to cost little when idle. An account-level Container Insights setting still applies.',
    });
    const executionRole = this.taskDefinition.obtainExecutionRole();
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken, which the execution role needs to pull the image, does not support resource-level permissions; the image pull actions themselves are limited to the asset repository.',
    });
  }

  /**
   * Lets the tasks reach upstream registries on `port` as well as 443 (a pull-through cache's
   * `http://host:5000` upstream): the uploader fills large blobs from them.
   */
  allowUpstreamPort(port: number): void {
    this.taskSecurityGroup.addEgressRule(Peer.anyIpv4(), Port.tcp(port), `Pull-through upstreams on port ${port}`);
  }
}

/** The mapping's value for regions whose load balancers deliver logs as a service principal. */
const NO_ELB_ACCOUNT = 'none';

/**
 * `logAccessLogs`, also in an environment-agnostic template (as `bin/registry.ts` synthesizes),
 * where it refuses to work: the writer of the logs is a per-region Elastic Load Balancing account in
 * regions opened before August 2022 and the `logdelivery.elasticloadbalancing.amazonaws.com` service
 * principal in later ones. Without a known region both are granted: the account is looked up at
 * deploy time in a mapping of aws-cdk-lib's region facts (the bucket owner's own account where the
 * region has none), for the regions of the app's target partitions.
 */
function logAccess(loadBalancer: ApplicationLoadBalancer, bucket: IBucket, prefix: string): void {
  const stack = Stack.of(loadBalancer);
  if (!Token.isUnresolved(stack.region)) {
    loadBalancer.logAccessLogs(bucket, prefix);
    return;
  }
  loadBalancer.setAttribute('access_logs.s3.enabled', 'true');
  loadBalancer.setAttribute('access_logs.s3.bucket', bucket.bucketName);
  loadBalancer.setAttribute('access_logs.s3.prefix', prefix);
  const partitions = loadBalancer.node.tryGetContext(TARGET_PARTITIONS) as string[] | undefined;
  const regions = Object.keys(
    partitions ? RegionInfo.limitedRegionMap(FactName.PARTITION, partitions) : RegionInfo.regionMap(FactName.PARTITION),
  );
  const mapping = new CfnMapping(loadBalancer, 'ElbAccounts', {
    mapping: Object.fromEntries(
      regions.map((region) => [region, { account: Fact.find(region, FactName.ELBV2_ACCOUNT) ?? NO_ELB_ACCOUNT }]),
    ),
  });
  const elbAccount = mapping.findInMap(Aws.REGION, 'account');
  const hasElbAccount = new CfnCondition(loadBalancer, 'AccessLogsByElbAccount', {
    expression: Fn.conditionNot(Fn.conditionEquals(elbAccount, NO_ELB_ACCOUNT)),
  });
  const writer = Fn.conditionIf(hasElbAccount.logicalId, elbAccount, Aws.ACCOUNT_ID).toString();
  const logs = bucket.arnForObjects(`${prefix}/AWSLogs/${Aws.ACCOUNT_ID}/*`);
  bucket.addToResourcePolicy(
    new PolicyStatement({
      actions: ['s3:PutObject'],
      resources: [logs],
      principals: [
        new AccountPrincipal(writer),
        new ServicePrincipal('logdelivery.elasticloadbalancing.amazonaws.com'),
      ],
    }),
  );
  // The load balancer checks that it may write when access logging is turned on.
  const policy = bucket.policy?.node.defaultChild;
  if (CfnResource.isCfnResource(policy)) {
    (loadBalancer.node.defaultChild as CfnResource).addResourceDependency(policy);
  }
}
