import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createAwsClients, observeCalls, type AwsClients } from '../../lambda/adapters/aws-clients';
import { provision } from '../../lambda/adapters/provision';
import { rm, writeFile } from 'node:fs/promises';
import { DynamoDbAccounts } from '../../lambda/adapters/dynamodb/dynamodb-accounts';
import { FileTokenKeys } from '../../lambda/adapters/keyfile/file-token-keys';
import type { AccountStore } from '../../lambda/core/ports/accounts';
import type { EventPublisher } from '../../lambda/core/ports/events';
import type { AuthConfig, RegistryConfig } from '../../lambda/config/config';
import {
  routeTable,
  DEFAULT_MAX_NAME_DEPTH,
  FUNCTION_GROUPS,
  UPLOADER_PATH_PATTERN,
  type FunctionGroup,
} from '../../lambda/config/routes';
import { uploaderListener } from '../../lambda/uploader/server';
import { UploadAdmission, type AdmissionOptions } from '../../lambda/uploader/admission';
import { maxStreamsFor } from '../../lambda/config/uploader';
import { compose } from '../../lambda/handlers/compose';
import * as endpoints from '../../lambda/http/endpoints';
import { tokenEndpoint } from '../../lambda/http/token-endpoint';
import { lambdaHandler } from '../../lambda/http/lambda-handler';
import { Observability, type ObservedGroup } from '../../lambda/http/observability';
import { FileModeStore } from '../../lambda/adapters/modefile/file-mode-store';
import { systemClock } from '../../lambda/core/ports/clock';
import { ModeService } from '../../lambda/core/services/mode-service';
import type { Services } from '../../lambda/http/services';
import { recordCall } from './call-counter';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators } from './emulators';
import { createLocalGateway, type LambdaFn, type RequestRecord } from './gateway';
import { ensureTools } from './tools';
import { LOCAL_ENDPOINTS_FILE, type LocalEndpoints } from './endpoints-file';

export interface LocalRegistryOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  readonly port: number;
  /** Where the embedded servers keep their data. */
  readonly dataDir: string;
  readonly host?: string;
  /**
   * Use the S3 and DynamoDB endpoints, region and credentials of the environment (`AWS_ENDPOINT_URL`,
   * e.g. LocalStack) instead of starting the embedded servers.
   */
  readonly external?: boolean;
  /** Ready-made clients (tests): neither start servers nor close these clients on stop. */
  readonly clients?: AwsClients;
  readonly bucket?: string;
  readonly table?: string;
  readonly maxNameDepth?: number;
  /**
   * Serve uploads through the streaming upload data path (any body size), as a stack deployed with
   * it does; false sends them to the functions, limited to one Lambda payload per request.
   * @default true
   */
  readonly uploader?: boolean;
  readonly onRequest?: (record: RequestRecord) => void;
  readonly log?: (line: string) => void;
  /**
   * Upload bodies the uploader streams at once, and how long one waits for a slot.
   * @default what the deployed task's memory holds (lambda/config/uploader.ts), a 120 s wait
   */
  readonly uploaderAdmission?: AdmissionOptions;
  /**
   * Access control, as a deployed stack configures it; off by default. Token mode signs with a key
   * kept in `dataDir` (the stand-in for the KMS key).
   */
  readonly auth?: Partial<Pick<AuthConfig, 'mode' | 'anonymousPull' | 'tokenTtlSeconds' | 'maxFailures' | 'service'>>;
  /** How much verification one request finishing a direct upload does (tests: a few MiB). */
  readonly directVerifyBudget?: RegistryConfig['directVerifyBudget'];
  /** Where registry events go (docs/events.md), e.g. a memory publisher in tests; off by default. */
  readonly events?: EventPublisher;
  /**
   * With `events`: publish `Manifest Pulled` on manifest GETs too.
   * @default false
   */
  readonly publishPulls?: boolean;
  /**
   * Level of the handlers' JSON log lines (access lines are INFO).
   * @default 'WARN': `npm start` prints its own line per request
   */
  readonly logLevel?: string;
  /**
   * Print the handlers' EMF metric lines, as deployed functions do.
   * @default false
   */
  readonly metrics?: boolean;
  /**
   * How long the mode read from `<dataDir>/maintenance-mode` is cached (tests shorten it).
   * @default 30_000, as deployed
   */
  readonly modeCacheMs?: number;
}

export interface LocalRegistry {
  /** `http://localhost:<port>`; the blob redirect host (127.0.0.1) differs on purpose. */
  readonly url: string;
  readonly port: number;
  readonly services: Services;
  readonly clients: AwsClients;
  readonly config: RegistryConfig;
  /** Users and robot tokens (for the admin CLI and tests). */
  readonly accounts: AccountStore;
  /** The uploader's admission control (its streams in flight, its peak), when it runs. */
  readonly uploaderAdmission?: UploadAdmission;
  stop(): Promise<void>;
}

const ENDPOINTS: Record<FunctionGroup, endpoints.Endpoint> = {
  base: endpoints.baseEndpoint,
  blobs: endpoints.blobsEndpoint,
  manifests: endpoints.manifestsEndpoint,
  discovery: endpoints.discoveryEndpoint,
  token: tokenEndpoint,
};

/**
 * Runs the registry on this machine: the same endpoint groups, Lambda wrapper and adapters as the
 * deployed stack, behind a gateway that enforces API Gateway's and Lambda's limits, on real S3 and
 * DynamoDB servers.
 */
export async function startLocalRegistry(options: LocalRegistryOptions): Promise<LocalRegistry> {
  const log = options.log ?? (() => {});
  const config: RegistryConfig = {
    bucket: options.bucket ?? 'registry-local',
    table: options.table ?? 'registry-local',
    redirectTtlSeconds: 900,
    uploadTtlSeconds: 86_400,
    maxNameDepth: options.maxNameDepth ?? DEFAULT_MAX_NAME_DEPTH,
    s3ForcePathStyle: true,
    ...(options.directVerifyBudget ? { directVerifyBudget: options.directVerifyBudget } : {}),
    auth: {
      mode: options.auth?.mode ?? 'none',
      service: options.auth?.service ?? 'registry',
      issuer: 'registry-token-service',
      accountsTable: `${options.table ?? 'registry-local'}-accounts`,
      tokenKeyArns: [],
      tokenTtlSeconds: options.auth?.tokenTtlSeconds ?? 300,
      refreshTtlSeconds: 30 * 86_400,
      anonymousPull: options.auth?.anonymousPull ?? [],
      maxFailures: options.auth?.maxFailures ?? 10,
      failureWindowSeconds: 900,
    },
  };
  let stopEmulators = async () => {};
  let dynamodbEndpoint: string | undefined;
  let s3Endpoint: string | undefined;
  let clients: AwsClients;
  if (options.clients) {
    clients = options.clients;
  } else if (options.external) {
    clients = createAwsClients({ forcePathStyle: true });
  } else {
    const emulators = await startEmulators(await ensureTools(log), resolve(options.dataDir));
    stopEmulators = emulators.stop;
    dynamodbEndpoint = emulators.dynamodbEndpoint;
    s3Endpoint = emulators.s3Endpoint;
    clients = createAwsClients({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      s3Endpoint: emulators.s3Endpoint,
      dynamodbEndpoint: emulators.dynamodbEndpoint,
      forcePathStyle: true,
    });
    log(`S3 (${emulators.s3Server}) on ${emulators.s3Endpoint}, DynamoDB Local on ${emulators.dynamodbEndpoint}`);
  }
  try {
    await provision(clients, config.bucket, config.table, config.auth.accountsTable);
  } catch (err) {
    await stopEmulators();
    throw err;
  }
  observeCalls(clients, recordCall);
  const keys = config.auth.mode === 'token' ? await FileTokenKeys.open(resolve(options.dataDir)) : undefined;
  const accounts = new DynamoDbAccounts(clients.dynamodb, config.auth.accountsTable);
  const composed: Services = {
    ...compose(config, clients, { accounts, ...(keys ? { keys } : {}) }),
    // Maintenance mode: the file the admin CLI's `maintenance on|off --local` writes.
    mode: new ModeService(new FileModeStore(resolve(options.dataDir)), systemClock, {
      ...(options.modeCacheMs !== undefined ? { cacheMs: options.modeCacheMs } : {}),
    }),
  };
  const observe = (group: ObservedGroup) =>
    new Observability({ group, logLevel: options.logLevel ?? 'WARN', metrics: options.metrics ?? false });
  const services: Services = options.events
    ? { ...composed, events: options.events, publishPulls: options.publishPulls ?? false }
    : composed;
  const handlers = Object.fromEntries(
    FUNCTION_GROUPS.map((group) => [
      group,
      lambdaHandler(ENDPOINTS[group], () => services, observe(group)) as unknown as LambdaFn,
    ]),
  ) as Record<FunctionGroup, LambdaFn>;
  const admission =
    options.uploader === false
      ? undefined
      : new UploadAdmission(options.uploaderAdmission ?? { maxStreams: maxStreamsFor(2048) });
  const server = createLocalGateway({
    routes: routeTable(config.maxNameDepth),
    handlers,
    onRequest: options.onRequest,
    uploader:
      options.uploader === false
        ? undefined
        : {
            listener: uploaderListener(services, observe('uploader'), admission),
            pathPatterns: [UPLOADER_PATH_PATTERN],
          },
  });
  try {
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(options.port, options.host ?? '127.0.0.1', () => ok());
    });
  } catch (err) {
    // The port is taken (EADDRINUSE): the servers started for this registry end with it.
    await stopEmulators();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  if (dynamodbEndpoint) {
    const endpoints: LocalEndpoints = {
      pid: process.pid,
      registryUrl: `http://localhost:${port}`,
      dynamodbEndpoint,
      region: LOCAL_REGION,
      table: config.table,
      accountsTable: config.auth.accountsTable,
      bucket: config.bucket,
      ...(s3Endpoint ? { s3Endpoint } : {}),
    };
    await writeFile(resolve(options.dataDir, LOCAL_ENDPOINTS_FILE), JSON.stringify(endpoints, null, 2));
  }
  log(`access control: ${config.auth.mode}${config.auth.mode === 'none' ? ' (anyone may push and pull)' : ''}`);
  return {
    url: `http://localhost:${port}`,
    port,
    services,
    clients,
    config,
    accounts,
    ...(admission ? { uploaderAdmission: admission } : {}),
    stop: async () => {
      await new Promise<void>((ok) => {
        server.close(() => ok());
        server.closeAllConnections();
      });
      if (!options.clients) {
        clients.s3.destroy();
        clients.dynamodb.destroy();
      }
      await stopEmulators();
      if (dynamodbEndpoint) await rm(resolve(options.dataDir, LOCAL_ENDPOINTS_FILE), { force: true });
    },
  };
}
