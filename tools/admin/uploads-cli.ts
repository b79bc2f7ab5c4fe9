import type { AwsClients } from '../../lambda/adapters/aws-clients';
import { systemClock } from '../../lambda/core/ports/clock';
import type { SweepResult } from '../../lambda/core/services/upload-sweeper';
import { CliError, parseHours, readLocalEndpoints, UsageError, type CliValues } from './cli-support';
import { defaultDataDir } from '../local/endpoints-file';
import { LOCAL_CREDENTIALS } from '../local/emulators';

/**
 * The admin CLI's `uploads purge` (declared in admin-cli.ts, loaded only when it runs): the upload
 * sweeper of a deployed stack or of local mode, run now, with a progress line on a terminal.
 */

interface StorageTarget {
  readonly clients: Pick<AwsClients, 's3' | 'dynamodb'>;
  readonly table: string;
  readonly bucket: string;
  /** For messages: `table T and bucket B of the local registry …`. */
  readonly where: string;
  readonly local: boolean;
}

const str = (value: string | boolean | undefined) => (typeof value === 'string' ? value : undefined);

/** Finds the bucket and metadata table: `--local` (local-endpoints.json) or `--metadata-table` and `--bucket`. */
export async function storageTarget(values: CliValues, env = process.env): Promise<StorageTarget> {
  const { createAwsClients } = await import('../../lambda/adapters/aws-clients');
  if (values.table !== undefined) {
    throw new UsageError('--table names an accounts table; uploads purge takes --metadata-table and --bucket');
  }
  const table = str(values['metadata-table']);
  const bucket = str(values.bucket);
  if (values.local && (table || bucket)) {
    throw new UsageError('use either --local or --metadata-table and --bucket, not both');
  }
  if (values['data-dir'] !== undefined && !values.local) throw new UsageError('--data-dir goes with --local');
  if (values.local) {
    const endpoints = await readLocalEndpoints(String(values['data-dir'] ?? defaultDataDir()));
    if (!endpoints.bucket || !endpoints.s3Endpoint) {
      throw new CliError('local-endpoints.json names no bucket or S3 endpoint: restart npm start with this version');
    }
    return {
      clients: createAwsClients({
        region: endpoints.region,
        credentials: LOCAL_CREDENTIALS,
        dynamodbEndpoint: endpoints.dynamodbEndpoint,
        s3Endpoint: endpoints.s3Endpoint,
        forcePathStyle: true,
      }),
      table: endpoints.table,
      bucket: endpoints.bucket,
      where: `table ${endpoints.table} and bucket ${endpoints.bucket} of the local registry ${endpoints.registryUrl}`,
      local: true,
    };
  }
  const name = table ?? env.REGISTRY_TABLE;
  const bucketName = bucket ?? env.REGISTRY_BUCKET;
  if (!name || !bucketName) {
    throw new UsageError(
      'which registry? --local (while npm start runs), or --metadata-table <table> and --bucket <bucket> of a stack' +
        ' (or $REGISTRY_TABLE and $REGISTRY_BUCKET)',
    );
  }
  return {
    // S3 emulators behind a custom endpoint want path-style requests; AWS takes both.
    clients: createAwsClients({ forcePathStyle: Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL) }),
    table: name,
    bucket: bucketName,
    where: `table ${name} and bucket ${bucketName}`,
    local: false,
  };
}

/** `uploads purge [--dry-run] [--older-than <hours>] [--json]`. */
export async function purgeUploads(values: CliValues): Promise<void> {
  const olderThanHours = values['older-than'] !== undefined ? parseHours(String(values['older-than'])) : undefined;
  const dryRun = Boolean(values['dry-run']);
  const target = await storageTarget(values);
  const { composeUploadSweeper } = await import('../../lambda/handlers/compose');
  const sweeper = composeUploadSweeper(
    { bucket: target.bucket, table: target.table, s3ForcePathStyle: true },
    target.clients,
    systemClock,
  );
  const progress = process.stderr.isTTY ? progressLine(dryRun) : undefined;
  let result: SweepResult;
  try {
    result = await sweeper.sweep(
      { dryRun, ...(olderThanHours !== undefined ? { olderThanSeconds: olderThanHours * 3600 } : {}) },
      progress?.update,
    );
  } catch (err) {
    throw explain(err, target);
  } finally {
    progress?.clear();
    target.clients.s3.destroy();
    target.clients.dynamodb.destroy();
  }
  if (values.json) console.log(JSON.stringify({ dryRun, ...result }, null, 2));
  else console.log(summary(result, dryRun, olderThanHours));
  if (result.failed > 0) {
    throw new CliError(`${result.failed} session(s) failed, first: ${result.errors[0] ?? 'unknown'}`);
  }
}

/** One line: what was removed (or would be), and what was left alone. */
export function summary(result: SweepResult, dryRun: boolean, olderThanHours?: number): string {
  const which = olderThanHours !== undefined ? `expired or older than ${olderThanHours} h` : 'expired';
  const line =
    `${dryRun ? 'would remove' : 'removed'} ${plural(result.sessions, `${which} upload session`)}: ` +
    `${plural(result.objects, 'staged object')}, ${plural(result.multipartAborted, 'multipart upload')}, ` +
    `${formatBytes(result.bytes)}`;
  const notes = [
    result.skipped > 0 ? `${result.skipped} changed meanwhile and left alone` : '',
    result.failed > 0 ? `${result.failed} failed` : '',
  ].filter(Boolean);
  return notes.length > 0 ? `${line} (${notes.join('; ')})` : line;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** A line on stderr redrawn at most ten times a second, cleared at the end. */
function progressLine(dryRun: boolean) {
  let last = 0;
  let shown = false;
  return {
    update: (totals: Readonly<SweepResult>) => {
      const now = Date.now();
      if (now - last < 100) return;
      last = now;
      shown = true;
      process.stderr.write(
        `\r\u001b[K${dryRun ? 'counting' : 'purging'}: ${totals.sessions} sessions, ${totals.objects} objects, ` +
          `${totals.multipartAborted} multipart, ${formatBytes(totals.bytes)}`,
      );
    },
    clear: () => {
      if (shown) process.stderr.write('\r\u001b[K');
    },
  };
}

/** The SDK's failures as one line naming the target. */
function explain(err: unknown, target: StorageTarget): unknown {
  const name = err instanceof Error ? err.name : '';
  const text = String(err);
  if (name === 'ResourceNotFoundException') return new CliError(`${target.where}: the table does not exist`);
  if (name === 'NoSuchBucket') return new CliError(`${target.where}: the bucket does not exist`);
  if (name === 'ValidationException' && /index/i.test(text)) {
    return new CliError(
      `${target.where}: the table has no upload expiry index; deploy this version of the stack (or restart npm start)`,
    );
  }
  if (/region is missing/i.test(text))
    return new CliError('no AWS region: set AWS_REGION (or a profile with a region)');
  if (target.local && /ECONNREFUSED/.test(text + String((err as { code?: unknown })?.code))) {
    return new CliError(`nothing answers for ${target.where}: start the registry with npm start first`);
  }
  return err;
}
