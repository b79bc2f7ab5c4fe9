import { join } from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import { LOG_LEVELS } from '../../lambda/config/observability';
import { FUNCTION_GROUPS, type FunctionGroup } from '../../lambda/config/routes';
import { CODE_ROOT, prebuiltCode, sourceEntry } from '../bundling/code';

/** The settings every registry function shares, in one place. */
export const FUNCTION_DEFAULTS = {
  // The newest Node.js runtime this CDK knows; cdk-nag's AwsSolutions-L1 accepts only the newest.
  runtime: Runtime.NODEJS_24_X,
  architecture: Architecture.ARM_64,
  // CPU scales with memory; hashing and base64-decoding ~4.5 MiB bodies is the hot path.
  memorySize: 1024,
  // HTTP API gives up on an integration after 30 s; stopping first means no work continues for a
  // client that was already answered 503.
  timeout: Duration.seconds(29),
  logRetention: RetentionDays.ONE_MONTH,
} as const;

/**
 * How every function is bundled: by NodejsFunction at synth in this repository, and with the same
 * options by `npm pack` for the package (lib/bundling/build-package.ts).
 */
/**
 * The AWS SDK's credential providers a function never reaches: in Lambda the credentials are in the
 * environment, which the SDK's default chain reads first; it imports these (`import()`) only when
 * that fails (SSO, profiles, credential processes, web identity, and the STS/SSO clients they use;
 * ECS container credentials and EC2 instance metadata, last in the chain). Left out of the bundles:
 * 90 KB less in each function with the S3 or DynamoDB client, and 11 KB more for the last two. The
 * uploader, which runs on ECS and takes its credentials from the container endpoint, is bundled
 * apart (lambda/uploader/Dockerfile) with all of them.
 */
export const UNREACHED_CREDENTIAL_PROVIDERS = [
  '@aws-sdk/credential-provider-sso',
  '@aws-sdk/credential-provider-ini',
  '@aws-sdk/credential-provider-process',
  '@aws-sdk/credential-provider-web-identity',
  '@aws-sdk/nested-clients',
  '@aws-sdk/token-providers',
  '@aws-sdk/credential-provider-http',
  '@smithy/credential-provider-imds',
];

export const FUNCTION_BUNDLING = {
  forceDockerBundling: false,
  minify: true,
  sourceMap: true,
  // esbuild's target follows the runtime (node24). The SDK is bundled rather than taken from
  // the runtime: the runtime's copy changes without notice and need not include
  // @aws-sdk/s3-request-presigner; the bundle runs the versions the contract tests ran. Only the
  // credential providers a function never reaches are left out.
  externalModules: UNREACHED_CREDENTIAL_PROVIDERS,
  // The packages' ES module builds, from which esbuild drops what is not used: the CommonJS builds
  // carry every command of each SDK client (the manifests bundle 1,409 KB with them, 728 KB without).
  mainFields: ['module', 'main'],
  // Stack traces still name the TypeScript file and line; the map no longer carries the sources
  // (the blobs map 3.76 MB -> 1.26 MB, which Node parses at load with --enable-source-maps).
  sourcesContent: false,
};

/** The handlers of the functions that serve no endpoint (`jobFunction`), in `lambda/handlers/`. */
export const JOB_HANDLERS = ['sweeper', 'gc'] as const;
export type JobHandler = (typeof JOB_HANDLERS)[number];

export interface RegistryFunctionsProps {
  /** Deepest repository name the API routes; functions need it to answer NAME_INVALID beyond it. */
  readonly maxNameDepth: number;
  /** The path the registry is served under behind a reverse proxy (`OciRegistryProps.pathPrefix`). */
  readonly pathPrefix?: string;
  /**
   * How long function logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Level of the functions' JSON logs (`REGISTRY_LOG_LEVEL`): TRACE, DEBUG, INFO, WARN, ERROR,
   * CRITICAL or SILENT. INFO writes one access line per request.
   * @default 'INFO'
   */
  readonly logLevel?: string;
  /**
   * X-Ray active tracing: a trace per invocation with its initialization and duration, correlated
   * with the log lines by `xray_trace_id`. AWS SDK calls are not traced as subsegments (that would
   * take the X-Ray SDK into every bundle). Costs per trace beyond X-Ray's free tier.
   * @default false
   */
  readonly tracing?: boolean;
}

/**
 * One Lambda function per endpoint group (`FUNCTION_GROUPS`), each bundled from
 * `lambda/handlers/<group>.ts` with its own log group and its own role. The roles carry no managed
 * policy: each may write only its own log group, and storage grants add exactly what the group's
 * endpoints call.
 */
export class RegistryFunctions extends Construct {
  /** The function of each endpoint group. */
  readonly byGroup: Readonly<Record<FunctionGroup, NodejsFunction>>;

  constructor(scope: Construct, id: string, props: RegistryFunctionsProps) {
    super(scope, id);
    const byGroup = {} as Record<FunctionGroup, NodejsFunction>;
    for (const group of FUNCTION_GROUPS) byGroup[group] = this.createFunction(group, props);
    this.byGroup = byGroup;
  }

  private createFunction(group: FunctionGroup, props: RegistryFunctionsProps): NodejsFunction {
    const scope = new Construct(this, pascal(group));
    const logGroup = new LogGroup(scope, 'Logs', {
      retention: props.logRetention ?? FUNCTION_DEFAULTS.logRetention,
    });
    const role = new Role(scope, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Registry ${group} function: its own log group plus the storage grants of its endpoints`,
    });
    logGroup.grantWrite(role);
    if (props.tracing) {
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Active tracing (the tracing prop): xray:PutTraceSegments and xray:PutTelemetryRecords, which Lambda grants itself, support no resource-level permissions.',
      });
    }
    return new NodejsFunction(scope, 'Function', {
      description: `OCI registry: ${group} endpoints`,
      entry: sourceEntry(group),
      handler: 'handler',
      runtime: FUNCTION_DEFAULTS.runtime,
      architecture: FUNCTION_DEFAULTS.architecture,
      memorySize: FUNCTION_DEFAULTS.memorySize,
      timeout: FUNCTION_DEFAULTS.timeout,
      role,
      logGroup,
      ...(props.tracing ? { tracing: Tracing.ACTIVE } : {}),
      projectRoot: CODE_ROOT,
      depsLockFilePath: join(CODE_ROOT, 'package-lock.json'),
      environment: {
        [ENV.maxNameDepth]: String(props.maxNameDepth),
        ...(props.pathPrefix ? { [ENV.pathPrefix]: props.pathPrefix } : {}),
        [ENV.logLevel]: logLevel(props.logLevel),
        // Stack traces in the logs point at the TypeScript sources, not the minified bundle.
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: FUNCTION_BUNDLING,
      // In the npm package: the bundle npm pack built.
      ...prebuiltCode(group),
    });
  }
}

/** The log level as the functions read it; refused at synth when it is none. */
function logLevel(level = 'INFO'): string {
  const upper = level.toUpperCase();
  if (!(LOG_LEVELS as readonly string[]).includes(upper)) {
    throw new Error(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  return upper;
}

function pascal(group: string): string {
  return group.charAt(0).toUpperCase() + group.slice(1);
}

/** A function that serves no endpoint (a scheduled job): its own role and log group, house defaults. */
export interface JobFunctionProps {
  /** The handler file under `lambda/handlers/`, without `.ts`. */
  readonly handler: JobHandler;
  readonly description: string;
  readonly roleDescription: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment?: Record<string, string>;
  readonly logRetention?: RetentionDays;
}

/** Creates a job function in `scope` (as `Logs`, `Role` and `Function`); grants are the caller's. */
export function jobFunction(scope: Construct, props: JobFunctionProps): { fn: NodejsFunction; role: Role } {
  const logGroup = new LogGroup(scope, 'Logs', { retention: props.logRetention ?? FUNCTION_DEFAULTS.logRetention });
  const role = new Role(scope, 'Role', {
    assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
    description: props.roleDescription,
  });
  logGroup.grantWrite(role);
  const fn = new NodejsFunction(scope, 'Function', {
    description: props.description,
    entry: sourceEntry(props.handler),
    handler: 'handler',
    runtime: FUNCTION_DEFAULTS.runtime,
    architecture: FUNCTION_DEFAULTS.architecture,
    memorySize: props.memorySize,
    timeout: props.timeout,
    role,
    logGroup,
    projectRoot: CODE_ROOT,
    depsLockFilePath: join(CODE_ROOT, 'package-lock.json'),
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    bundling: FUNCTION_BUNDLING,
    // In the npm package: the bundle npm pack built.
    ...prebuiltCode(props.handler),
  });
  return { fn, role };
}
