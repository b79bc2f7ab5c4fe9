/** Written to the data directory while local mode runs, so the admin CLI can find its servers. */
export const LOCAL_ENDPOINTS_FILE = 'local-endpoints.json';

export interface LocalEndpoints {
  /** The local mode process: a file whose process is gone is stale. */
  readonly pid?: number;
  readonly registryUrl: string;
  readonly dynamodbEndpoint: string;
  readonly region: string;
  readonly table: string;
  readonly accountsTable: string;
  /** The blob bucket and the S3 server holding it (the admin CLI's `uploads purge`). */
  readonly bucket?: string;
  readonly s3Endpoint?: string;
  /** The synthesized stack's AWS endpoint (KMS, EventBridge, …). */
  readonly awsEndpoint?: string;
  /** Whether the stack's functions follow the mode item of `table` (`maintenance --local`). */
  readonly modeInTable?: boolean;
}

/** Whether the process that wrote the endpoints file still runs. */
export function isRunning(endpoints: Pick<LocalEndpoints, 'pid'>): boolean {
  if (endpoints.pid === undefined) return true;
  try {
    process.kill(endpoints.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Local mode's data directory: REGISTRY_DATA_DIR, as `npm start` reads it, else `.registry-data`. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.REGISTRY_DATA_DIR || '.registry-data';
}
