import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isRunning, LOCAL_ENDPOINTS_FILE, type LocalEndpoints } from '../local/endpoints-file';

/** What every admin command shares: its errors, its parsed values, and finding local mode. */

/** The command line was wrong: exit code 2 and a pointer to --help. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure worth one line of explanation rather than the SDK's message (exit code 1). */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export type CliValues = Record<string, string | boolean | undefined>;

/** The endpoints local mode writes to its data directory while it runs. */
export async function readLocalEndpoints(dataDir: string): Promise<LocalEndpoints> {
  const path = resolve(dataDir, LOCAL_ENDPOINTS_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    throw new CliError(
      `no local registry in ${resolve(dataDir)} (${LOCAL_ENDPOINTS_FILE} is missing): start the registry with npm start first` +
        ' (with AWS_ENDPOINT_URL set, local mode uses those endpoints: pass --table <table>-accounts instead)',
    );
  }
  const endpoints = JSON.parse(text) as Partial<LocalEndpoints>;
  if (!isRunning(endpoints)) {
    throw new CliError(
      `no local registry is running for ${resolve(dataDir)} (the one that wrote ${LOCAL_ENDPOINTS_FILE}, pid ${endpoints.pid}, is gone): start it with npm start`,
    );
  }
  if (!endpoints.dynamodbEndpoint || !endpoints.region) {
    throw new CliError(`${path} lacks dynamodbEndpoint or region`);
  }
  return endpoints as LocalEndpoints;
}

/** A whole number of days, at least 1. */
export function parseDays(text: string): number {
  if (!/^[1-9][0-9]{0,5}$/.test(text))
    throw new UsageError(`--expires-days takes a whole number of days, got "${text}"`);
  return Number(text);
}

/** A number of hours, 0 or more (fractions allowed: 0.5). */
export function parseHours(text: string): number {
  if (!/^[0-9]{1,6}(\.[0-9]{1,3})?$/.test(text)) {
    throw new UsageError(`--older-than takes a number of hours, got "${text}"`);
  }
  return Number(text);
}
