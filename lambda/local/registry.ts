import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createAwsClients, observeCalls, type AwsClients } from '../adapters/aws-clients';
import { provision } from '../adapters/provision';
import type { RegistryConfig } from '../config/config';
import {
  routeTable,
  DEFAULT_MAX_NAME_DEPTH,
  FUNCTION_GROUPS,
  UPLOADER_PATH_PATTERN,
  type FunctionGroup,
} from '../config/routes';
import { uploaderListener } from '../uploader/server';
import { compose } from '../handlers/compose';
import * as endpoints from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import type { Services } from '../http/services';
import { recordCall } from './call-counter';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startEmulators } from './emulators';
import { createLocalGateway, type LambdaFn, type RequestRecord } from './gateway';
import { ensureTools } from './tools';

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
}

export interface LocalRegistry {
  /** `http://localhost:<port>`; the blob redirect host (127.0.0.1) differs on purpose. */
  readonly url: string;
  readonly port: number;
  readonly services: Services;
  readonly clients: AwsClients;
  readonly config: RegistryConfig;
  stop(): Promise<void>;
}

const ENDPOINTS: Record<FunctionGroup, endpoints.Endpoint> = {
  base: endpoints.baseEndpoint,
  blobs: endpoints.blobsEndpoint,
  manifests: endpoints.manifestsEndpoint,
  discovery: endpoints.discoveryEndpoint,
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
  };
  let stopEmulators = async () => {};
  let clients: AwsClients;
  if (options.clients) {
    clients = options.clients;
  } else if (options.external) {
    clients = createAwsClients({ forcePathStyle: true });
  } else {
    const emulators = await startEmulators(ensureTools(log), resolve(options.dataDir));
    stopEmulators = emulators.stop;
    clients = createAwsClients({
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
      s3Endpoint: emulators.s3Endpoint,
      dynamodbEndpoint: emulators.dynamodbEndpoint,
      forcePathStyle: true,
    });
    log(`S3 (versitygw) on ${emulators.s3Endpoint}, DynamoDB Local on ${emulators.dynamodbEndpoint}`);
  }
  try {
    await provision(clients, config.bucket, config.table);
  } catch (err) {
    await stopEmulators();
    throw err;
  }
  observeCalls(clients, recordCall);
  const services = compose(config, clients);
  const handlers = Object.fromEntries(
    FUNCTION_GROUPS.map((group) => [group, lambdaHandler(ENDPOINTS[group], () => services) as unknown as LambdaFn]),
  ) as Record<FunctionGroup, LambdaFn>;
  const server = createLocalGateway({
    routes: routeTable(config.maxNameDepth),
    handlers,
    onRequest: options.onRequest,
    uploader:
      options.uploader === false
        ? undefined
        : { listener: uploaderListener(services), pathPattern: UPLOADER_PATH_PATTERN },
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(options.port, options.host ?? '127.0.0.1', () => ok());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}`,
    port,
    services,
    clients,
    config,
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
    },
  };
}
