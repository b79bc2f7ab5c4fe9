import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { createAwsClients, type AwsClients } from '../../../lambda/adapters/aws-clients';
import { DynamoDbAccounts } from '../../../lambda/adapters/dynamodb/dynamodb-accounts';
import { provisionDeclared } from '../../../lambda/adapters/provision';
import { ENV } from '../../../lambda/config/env';
import type { AccountStore } from '../../../lambda/core/ports/accounts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators } from '../emulators';
import { LOCAL_ENDPOINTS_FILE, type LocalEndpoints } from '../endpoints-file';
import { createLocalGateway, type LambdaFn, type RequestRecord } from '../gateway';
import { ensureTools } from '../tools';
import { startAwsEndpoint, type AwsCall, type AwsEndpoint } from './aws-endpoint';
import { FunctionPool } from './function-pool';
import type { Template } from './intrinsics';
import { loadStackModel, type FunctionModel, type RoleModel, type StackModel } from './stack-model';
import { pullThroughContext, pullThroughSecrets, type LocalPullThroughRule } from './pull-through';
import { AwsStandIns, type PublishedEvent } from './standins';
import { synthesize } from './synth';
import { startUploader, type RunningUploader } from './uploader-process';

/** The account id local ARNs carry. */
export const LOCAL_ACCOUNT = '000000000000';
const STACK_NAME = 'ServerlessRegistry';

export interface LocalStackOptions {
  /** TCP port of the registry; 0 picks a free one. */
  readonly port: number;
  readonly host?: string;
  /** Embedded servers' data, signing keys. */
  readonly dataDir: string;
  /** Servers already running (tests share one set); otherwise embedded ones are started. */
  readonly servers?: { readonly s3Endpoint: string; readonly dynamodbEndpoint: string };
  /** Physical names are `<prefix>-<logical id>`. @default 'registry' */
  readonly namePrefix?: string;
  /** The stack's access control, as `cdk deploy -c authMode=…` chooses it. */
  readonly auth?: {
    readonly mode?: 'none' | 'basic' | 'token';
    readonly anonymousPull?: readonly string[];
    readonly maxFailures?: number;
  };
  /** Synthesize with the upload data path (`-c uploadDataPath=true`). @default true */
  readonly uploader?: boolean;
  /** Synthesize with registry events on; each published event is handed to `onEvent`. */
  readonly events?: { readonly pulls?: boolean; readonly onEvent?: (event: PublishedEvent) => void };
  /**
   * A pull-through cache (`-c pullThroughCache`): each rule's credentials become a secret of the
   * Secrets Manager stand-in, which the template names by a local ARN and grants as deployed.
   */
  readonly pullThrough?: readonly LocalPullThroughRule[];
  /** The functions' log level (`-c logLevel`). @default 'WARN' */
  readonly logLevel?: string;
  /**
   * Serve under this path, as behind a reverse proxy that strips it (`-c pathPrefix=…`); `url`
   * then ends with it.
   */
  readonly pathPrefix?: string;
  /** Execution environments per function at most. @default 4 */
  readonly maxEnvironments?: number;
  readonly onRequest?: (record: RequestRecord) => void;
  /** Every AWS call any function, the uploader or a presigned URL made, after authorization. */
  readonly onCall?: (call: AwsCall) => void;
  /** The functions' and the uploader's log lines. */
  readonly onLog?: (source: string, line: string) => void;
  readonly log?: (line: string) => void;
  /** Changes the template before it is run, as a deployment of the changed template would (tests). */
  readonly editTemplate?: (template: Template) => void;
}

export interface LocalStack {
  readonly url: string;
  readonly port: number;
  readonly model: StackModel;
  readonly assemblyDir: string;
  /** The local AWS endpoint the functions use. */
  readonly awsEndpoint: string;
  /** The registry's bucket and tables, as the template names them for the functions. */
  readonly names: { readonly bucket: string; readonly table: string; readonly accountsTable?: string };
  /** Users and robot tokens, in the stack's accounts table (token and basic mode). */
  readonly accounts?: AccountStore;
  /** Process ids per function name (and `uploader`). */
  pids(): Record<string, number[]>;
  /** Invokes a function directly, as EventBridge or the console would. */
  invoke(logicalIdPrefix: string, event: unknown): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * Runs what `cdk deploy` ships: the app is synthesized (cached by a hash of its inputs), and every
 * function of the template runs from its bundle in the cloud assembly, with the template's
 * environment, handler, timeout and memory, behind a gateway routing by the template's routes, and
 * calling AWS through an endpoint that enforces the template's IAM policies. See docs/local-mode.md.
 */
export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => {});
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  };
  try {
    return await start(options, log, cleanups, cleanup);
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function start(
  options: LocalStackOptions,
  log: (line: string) => void,
  cleanups: (() => Promise<void>)[],
  cleanup: () => Promise<void>,
): Promise<LocalStack> {
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true });
  const auth = options.auth ?? {};
  const context: Record<string, string> = {
    uploadDataPath: String(options.uploader ?? true),
    logLevel: options.logLevel ?? 'WARN',
    // Explicit, since the app's default is token mode: local mode is open unless asked.
    authMode: auth.mode ?? 'none',
    ...(auth.anonymousPull?.length ? { anonymousPull: auth.anonymousPull.join(',') } : {}),
    ...(auth.maxFailures !== undefined ? { maxFailedSignIns: String(auth.maxFailures) } : {}),
    ...(options.events ? { events: 'true', eventPulls: String(options.events.pulls ?? false) } : {}),
    ...(options.pathPrefix ? { pathPrefix: options.pathPrefix } : {}),
    ...(options.pullThrough?.length
      ? { pullThroughCache: pullThroughContext(options.pullThrough, { region: LOCAL_REGION, account: LOCAL_ACCOUNT }) }
      : {}),
  };
  const synth = await synthesize(context, log);
  log(`${synth.cached ? 'cloud assembly cached' : 'synthesized'} in ${synth.milliseconds} ms: ${synth.assemblyDir}`);

  let servers = options.servers;
  if (!servers) {
    const emulators = await startEmulators(await ensureTools(log), dataDir);
    cleanups.push(emulators.stop);
    servers = emulators;
    log(`S3 (${emulators.s3Server}) on ${emulators.s3Endpoint}, DynamoDB Local on ${emulators.dynamodbEndpoint}`);
  }

  // The gateway listens first: its host is the domain the template's URLs name.
  // Requests that arrive while the stack is still starting wait for it, as the first requests to a
  // new deployment wait for cold starts.
  let gatewayReady: (server: Server) => void = () => {};
  const gateway = new Promise<Server>((resolve) => {
    gatewayReady = resolve;
  });
  const front = createServer((req, res) => {
    void gateway.then((server) => server.emit('request', req, res));
  });
  await new Promise<void>((ok, fail) => {
    front.once('error', fail);
    front.listen(options.port, options.host ?? '127.0.0.1', () => ok());
  });
  cleanups.push(
    () =>
      new Promise<void>((ok) => {
        front.close(() => ok());
        front.closeAllConnections();
      }),
  );
  const port = (front.address() as AddressInfo).port;
  const publicHost = `localhost:${port}`;
  const prefix = options.namePrefix ?? 'registry';
  const model = loadStackModel(
    synth.assemblyDir,
    STACK_NAME,
    {
      prefix,
      region: LOCAL_REGION,
      account: LOCAL_ACCOUNT,
      publicHost,
    },
    options.editTemplate,
  );

  // CloudFormation's part: the stateful resources, as declared.
  const admin: AwsClients = createAwsClients({
    region: LOCAL_REGION,
    credentials: LOCAL_CREDENTIALS,
    s3Endpoint: servers.s3Endpoint,
    dynamodbEndpoint: servers.dynamodbEndpoint,
    forcePathStyle: true,
  });
  cleanups.push(async () => {
    admin.s3.destroy();
    admin.dynamodb.destroy();
  });
  await provisionDeclared(admin, model.buckets, model.tables);
  const standIns = new AwsStandIns(resolve(dataDir, 'aws'), options.events?.onEvent);
  for (const key of model.keys) standIns.addKey(key.id, key.arn, key.keySpec);
  // The pull-through rules' credentials, as an operator creates the secrets before deploying.
  const secrets = pullThroughSecrets(options.pullThrough ?? [], { region: LOCAL_REGION, account: LOCAL_ACCOUNT });
  for (const [arn, value] of secrets) standIns.addSecret(arn, value);

  const partitionKeys = new Map(
    model.tables.map((t) => [
      t.name,
      (t.properties.KeySchema as { AttributeName: string; KeyType: string }[]).find((k) => k.KeyType === 'HASH')
        ?.AttributeName,
    ]),
  );
  const endpoint: AwsEndpoint = await startAwsEndpoint({
    s3Upstream: servers.s3Endpoint,
    s3UpstreamCredentials: LOCAL_CREDENTIALS,
    region: LOCAL_REGION,
    dynamodbUpstream: servers.dynamodbEndpoint,
    standIns,
    arns: { partition: 'aws', region: LOCAL_REGION, account: LOCAL_ACCOUNT },
    partitionKeyOf: (table) => partitionKeys.get(table),
    ...(options.onCall ? { onCall: options.onCall } : {}),
  });
  cleanups.push(endpoint.stop);
  endpoint.register(LOCAL_CREDENTIALS, {
    arn: `arn:aws:iam::${LOCAL_ACCOUNT}:root`,
    label: 'admin',
  });

  // Each role signs with credentials of its own; the endpoint checks the signature and maps them to the role.
  const credentials = new Map<string, { accessKeyId: string; secretAccessKey: string }>();
  const credentialsOf = (role: RoleModel, session: string) => {
    let found = credentials.get(role.arn);
    if (!found) {
      const id = createHash('sha256').update(`${prefix}/${role.arn}`).digest('hex').slice(0, 16).toUpperCase();
      found = { accessKeyId: `AKIA${id}`, secretAccessKey: randomBytes(30).toString('base64') };
      credentials.set(role.arn, found);
    }
    endpoint.register(found, {
      arn: `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${role.name}/${session}`,
      statements: role.statements,
      label: session,
    });
    return found;
  };
  const lambdaEnvironment = (fn: FunctionModel) => {
    const { accessKeyId, secretAccessKey } = credentialsOf(fn.role, fn.name);
    return {
      ...fn.environment,
      // Lambda's reserved variables (what the managed runtime sets).
      AWS_LAMBDA_FUNCTION_NAME: fn.name,
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `local/[$LATEST]${process.pid}`,
      AWS_REGION: LOCAL_REGION,
      AWS_DEFAULT_REGION: LOCAL_REGION,
      AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
      TZ: ':UTC',
      LANG: 'en_US.UTF-8',
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      // What stands for AWS's network: every service at the local endpoint.
      AWS_ENDPOINT_URL: endpoint.url,
    };
  };
  const pools = new Map<string, FunctionPool>();
  for (const fn of model.functions) {
    pools.set(
      fn.logicalId,
      new FunctionPool({
        fn,
        environment: lambdaEnvironment(fn),
        maxEnvironments: options.maxEnvironments ?? 4,
        onLog: (f, line) => options.onLog?.(f.name, line),
      }),
    );
  }
  const uploaderCredentials = model.uploader ? credentialsOf(model.uploader.role, 'uploader') : undefined;
  cleanups.push(async () => {
    await Promise.all([...pools.values()].map((p) => p.stop()));
  });
  await Promise.all([...pools.values()].map((p) => p.warm()));

  let uploader: RunningUploader | undefined;
  if (model.uploader && uploaderCredentials) {
    const { accessKeyId, secretAccessKey } = uploaderCredentials;
    uploader = await startUploader({
      model: model.uploader,
      assemblyDir: synth.assemblyDir,
      environment: {
        ...model.uploader.environment,
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        // The Dockerfile's ENV.
        NODE_OPTIONS: '--enable-source-maps',
        AWS_ACCESS_KEY_ID: accessKeyId,
        AWS_SECRET_ACCESS_KEY: secretAccessKey,
        AWS_ENDPOINT_URL: endpoint.url,
      },
      onLog: (line) => options.onLog?.('uploader', line),
      log,
    });
    cleanups.push(uploader.stop);
  }

  const handlers: Record<string, LambdaFn> = {};
  for (const [id, pool] of pools) {
    handlers[id] = async (event) => {
      const outcome = await pool.invoke(event, event.requestContext.requestId);
      if (outcome.kind === 'error') {
        options.onLog?.(pool.fn.name, `invocation failed: ${outcome.errorType}: ${outcome.errorMessage}`);
        throw new Error(`${pool.fn.name}: ${outcome.errorType}: ${outcome.errorMessage}`);
      }
      return outcome.result as APIGatewayProxyStructuredResultV2;
    };
  }
  const server = createLocalGateway({
    routes: model.routes.map((r) => ({ path: r.path, group: r.functionId })),
    handlers,
    ...(options.onRequest ? { onRequest: (r) => options.onRequest?.({ ...r, group: groupLabel(r.group) }) } : {}),
    ...(uploader && model.uploader
      ? { uploader: { listener: uploader.listener, pathPatterns: model.uploader.pathPatterns } }
      : {}),
    ...(options.pathPrefix ? { pathPrefix: options.pathPrefix } : {}),
  });
  gatewayReady(server);

  // EventBridge schedules: rate(…) expressions, as the rules fire them.
  for (const schedule of model.schedules) {
    const period = ratePeriod(schedule.expression);
    const pool = pools.get(schedule.functionId);
    if (!period || !pool) continue;
    const timer = setInterval(() => {
      void pool.invoke({ source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} });
    }, period);
    timer.unref();
    cleanups.push(async () => clearInterval(timer));
  }

  const env = (name: string) => model.functions.find((f) => f.environment[name])?.environment[name];
  const accountsTable = env('REGISTRY_ACCOUNTS_TABLE');
  const endpoints: LocalEndpoints = {
    pid: process.pid,
    registryUrl: `http://${publicHost}`,
    dynamodbEndpoint: servers.dynamodbEndpoint,
    region: LOCAL_REGION,
    table: env('REGISTRY_TABLE') ?? '',
    accountsTable: accountsTable ?? '',
    bucket: env('REGISTRY_BUCKET') ?? '',
    s3Endpoint: servers.s3Endpoint,
    awsEndpoint: endpoint.url,
    ...(env(ENV.modeInTable) === 'true' ? { modeInTable: true } : {}),
  };
  const endpointsFile = resolve(dataDir, LOCAL_ENDPOINTS_FILE);
  writeFileSync(endpointsFile, JSON.stringify(endpoints, null, 2));
  cleanups.push(async () => rmSync(endpointsFile, { force: true }));

  return {
    url: `http://${publicHost}${options.pathPrefix ?? ''}`,
    port,
    model,
    assemblyDir: synth.assemblyDir,
    awsEndpoint: endpoint.url,
    names: {
      bucket: endpoints.bucket ?? '',
      table: endpoints.table,
      ...(accountsTable ? { accountsTable } : {}),
    },
    ...(accountsTable ? { accounts: new DynamoDbAccounts(admin.dynamodb, accountsTable) } : {}),
    pids: () => ({
      ...Object.fromEntries([...pools.values()].map((p) => [p.fn.name, p.pids()])),
      ...(uploader ? { uploader: [uploader.pid] } : {}),
    }),
    invoke: async (prefixOfId, event) => {
      const pool = [...pools.entries()].find(([id]) => id.startsWith(prefixOfId))?.[1];
      if (!pool) throw new Error(`no function whose logical id starts with ${prefixOfId}`);
      const outcome = await pool.invoke(event);
      if (outcome.kind === 'error') throw new Error(`${outcome.errorType}: ${outcome.errorMessage}`);
      return outcome.result;
    },
    stop: cleanup,
  };
}

/** Milliseconds between runs of a `rate(n unit)` schedule; cron schedules are not run locally. */
function ratePeriod(expression: string): number | undefined {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!m) return undefined;
  const unit = m[2]?.startsWith('minute') ? 60_000 : m[2]?.startsWith('hour') ? 3_600_000 : 86_400_000;
  return Number(m[1]) * unit;
}

/** `FunctionsBlobsFunctionF86B3AED` → `blobs`: the endpoint group of a function of the registry's functions construct. */
function groupLabel(logicalId: string): string {
  const m = /^Functions([A-Z][A-Za-z]*?)Function[0-9A-F]{8}$/.exec(logicalId);
  return m?.[1] ? m[1].toLowerCase() : logicalId;
}
