import { ENV } from './env';
import { loadLifecycle, type LifecycleConfig } from './lifecycle';
import { DEFAULT_EVENT_SOURCE, eventBusProblem, eventSourceProblem } from './events';
import { DEFAULT_MAX_NAME_DEPTH, MAX_SUPPORTED_NAME_DEPTH, PATH_PREFIX } from './routes';
import { parsePullThroughRules, type PullThroughRule } from './pull-through';

/** A function's validated configuration, loaded once at cold start. */
export interface RegistryConfig {
  readonly bucket: string;
  readonly table: string;
  readonly redirectTtlSeconds: number;
  readonly uploadTtlSeconds: number;
  readonly maxNameDepth: number;
  readonly s3ForcePathStyle: boolean;
  readonly s3PublicEndpoint?: string;
  /** The path clients reach the registry under (`/reg`), stripped before requests arrive. */
  readonly pathPrefix?: string;
  readonly auth: AuthConfig;
  /** Garbage collection and the lifecycle policy's defaults. */
  readonly lifecycle?: LifecycleConfig;
  /** Registry events (docs/events.md); absent when they are off. */
  readonly events?: EventsConfig;
  /** Whether the registry's mode (maintenance) is read from the metadata table; false: always read-write. */
  readonly modeInTable?: boolean;
  /** How much verification one request finishing a direct upload does; default 15 s, no byte limit. */
  readonly directVerifyBudget?: { readonly milliseconds: number; readonly bytes?: number };
  /** Pull-through cache rules (docs/pull-through-cache.md); absent: no repository is a cache. */
  readonly pullThrough?: PullThroughConfig;
}

export interface PullThroughConfig {
  readonly rules: readonly PullThroughRule[];
  /** The upload data path fills blobs too large for a function (`FILL_PATH_PATTERN`). */
  readonly fillPath: boolean;
}

/** Where registry events go. */
export interface EventsConfig {
  /** Event bus name or ARN. */
  readonly bus: string;
  readonly source: string;
  /** Publish `Manifest Pulled` too. */
  readonly pulls: boolean;
}

/** Who may do what; off unless a mode is set. */
export interface AuthConfig {
  readonly mode: 'none' | 'basic' | 'token';
  readonly service: string;
  readonly issuer: string;
  readonly accountsTable: string;
  readonly tokenKeyArns: readonly string[];
  readonly tokenTtlSeconds: number;
  readonly refreshTtlSeconds: number;
  readonly anonymousPull: readonly string[];
  readonly maxFailures: number;
  readonly failureWindowSeconds: number;
  readonly publicUrl?: string;
}

export const AUTH_MODES = ['none', 'basic', 'token'] as const;

/** Raised at cold start with every problem found, so a misconfigured function fails with one clear log line. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Reads and validates the environment; throws ConfigError listing every invalid or missing variable. */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): RegistryConfig {
  const problems: string[] = [];
  const required = (name: string): string => {
    const value = env[name];
    if (!value) problems.push(`${name} is required`);
    return value ?? '';
  };
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got "${raw}"`);
    }
    return value;
  };
  const publicEndpoint = env[ENV.s3PublicEndpoint] || undefined;
  if (publicEndpoint && !/^https?:\/\/[^/]+\/?$/.test(publicEndpoint)) {
    problems.push(`${ENV.s3PublicEndpoint} must be an http(s) origin such as http://127.0.0.1:9000`);
  }
  const mode = (env[ENV.authMode] || 'none') as AuthConfig['mode'];
  if (!AUTH_MODES.includes(mode))
    problems.push(`${ENV.authMode} must be one of ${AUTH_MODES.join(', ')}, got "${mode}"`);
  const list = (name: string) =>
    (env[name] ?? '')
      .split(',')
      .map((v) => v.trim())
      .filter(Boolean);
  const publicUrl = env[ENV.publicUrl] || undefined;
  if (publicUrl && !/^https?:\/\/[^/]+$/.test(publicUrl)) {
    problems.push(`${ENV.publicUrl} must be an origin such as https://registry.example.com, got "${publicUrl}"`);
  }
  const auth: AuthConfig = {
    mode,
    service: env[ENV.authService] || 'registry',
    issuer: env[ENV.authIssuer] || 'registry-token-service',
    accountsTable: mode === 'none' ? (env[ENV.accountsTable] ?? '') : required(ENV.accountsTable),
    tokenKeyArns: list(ENV.tokenKeys),
    tokenTtlSeconds: integer(ENV.tokenTtl, 300, 60, 3600),
    refreshTtlSeconds: integer(ENV.refreshTtl, 30 * 86_400, 3600, 365 * 86_400),
    anonymousPull: list(ENV.anonymousPull),
    maxFailures: integer(ENV.maxFailedSignIns, 10, 1, 1000),
    failureWindowSeconds: 900,
    ...(publicUrl ? { publicUrl } : {}),
  };
  if (mode === 'token' && auth.tokenKeyArns.length === 0) problems.push(`${ENV.tokenKeys} is required in token mode`);
  const events = loadEvents(env, problems);
  const modeInTable = env[ENV.modeInTable] || undefined;
  if (modeInTable !== undefined && modeInTable !== 'true' && modeInTable !== 'false') {
    problems.push(`${ENV.modeInTable} must be true or false, got "${modeInTable}"`);
  }
  const pathPrefix = env[ENV.pathPrefix] || undefined;
  if (pathPrefix && !PATH_PREFIX.test(pathPrefix)) {
    problems.push(
      `${ENV.pathPrefix} must be a path such as /registry (segments of letters, digits, '.', '_', '~', '-', no trailing /), got "${pathPrefix}"`,
    );
  }
  const rules = parsePullThroughRules(env[ENV.pullThrough], problems);
  const fillPath = env[ENV.pullThroughFill] || 'false';
  if (fillPath !== 'true' && fillPath !== 'false') {
    problems.push(`${ENV.pullThroughFill} must be true or false, got "${fillPath}"`);
  }
  const config: RegistryConfig = {
    bucket: required(ENV.bucket),
    table: required(ENV.table),
    // Presigned URLs die with the credentials that signed them; minutes are plenty for a pull.
    redirectTtlSeconds: integer(ENV.redirectTtl, 900, 60, 43_200),
    uploadTtlSeconds: integer(ENV.uploadTtl, 86_400, 300, 7 * 86_400),
    maxNameDepth: integer(ENV.maxNameDepth, DEFAULT_MAX_NAME_DEPTH, 1, MAX_SUPPORTED_NAME_DEPTH),
    s3ForcePathStyle: env[ENV.s3ForcePathStyle] === 'true',
    s3PublicEndpoint: publicEndpoint,
    ...(pathPrefix ? { pathPrefix } : {}),
    auth,
    ...(rules.length > 0 ? { pullThrough: { rules, fillPath: fillPath === 'true' } } : {}),
    ...(events ? { events } : {}),
    ...(modeInTable === 'true' ? { modeInTable: true } : {}),
    lifecycle: loadLifecycle(
      env,
      {
        grace: ENV.gcGrace,
        untagged: ENV.untaggedRetention,
        immutable: ENV.immutableTags,
        retention: ENV.tagRetention,
        notPulled: ENV.notPulledFor,
      },
      problems,
    ),
  };
  if (problems.length > 0) throw new ConfigError(`invalid registry configuration: ${problems.join('; ')}`);
  return config;
}

/** REGISTRY_EVENT_*: off unless a bus is named. */
function loadEvents(env: Readonly<Record<string, string | undefined>>, problems: string[]): EventsConfig | undefined {
  const bus = env[ENV.eventBus] || undefined;
  const source = env[ENV.eventSource] || DEFAULT_EVENT_SOURCE;
  const pulls = env[ENV.eventPulls] || 'false';
  if (pulls !== 'true' && pulls !== 'false') problems.push(`${ENV.eventPulls} must be true or false, got "${pulls}"`);
  if (!bus) {
    for (const name of [ENV.eventSource, ENV.eventPulls]) {
      if (env[name]) problems.push(`${name} has no effect without ${ENV.eventBus}`);
    }
    return undefined;
  }
  const busProblem = eventBusProblem(bus);
  if (busProblem) problems.push(`${ENV.eventBus}: ${busProblem}`);
  const sourceProblem = eventSourceProblem(source);
  if (sourceProblem) problems.push(`${ENV.eventSource}: ${sourceProblem}`);
  return { bus, source, pulls: pulls === 'true' };
}
