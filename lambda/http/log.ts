import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { ENV } from '../config/env';
import { LOG_LEVELS, SERVICE_NAME } from '../config/observability';

/**
 * Structured logs: Powertools Logger, one JSON object per line with `level`, `message`,
 * `timestamp`, `service` and, while a request is served, its ids (API Gateway's `requestId`,
 * Lambda's `lambdaRequestId`) and `functionGroup`. The ids come from an AsyncLocalStorage scope
 * rather than from keys appended to a shared logger, so lines stay right when one process serves
 * requests concurrently (local mode, the uploader).
 *
 * Nothing here logs headers or query strings: callers pass the fields they mean to log.
 */

export type LogFields = Record<string, unknown>;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** What a request's lines carry: a logger (its level, its group) and the request's keys. */
export interface LogScope {
  readonly logger: Logger;
  readonly keys: LogFields;
}

const scopes = new AsyncLocalStorage<LogScope>();

/** `REGISTRY_LOG_LEVEL`'s value as a level, or `fallback` when unset or not a level. */
export function parseLogLevel(raw: string | undefined, fallback: LogLevelName = 'INFO'): LogLevelName {
  const level = (raw ?? '').trim().toUpperCase();
  return (LOG_LEVELS as readonly string[]).includes(level) ? (level as LogLevelName) : fallback;
}

/** A logger for the registry's service name, at `logLevel` (default REGISTRY_LOG_LEVEL, else INFO). */
export function createLogger(options: { logLevel?: string; keys?: LogFields } = {}): Logger {
  const raw = options.logLevel ?? process.env[ENV.logLevel];
  const logger = new Logger({
    serviceName: SERVICE_NAME,
    logLevel: parseLogLevel(raw),
    ...(options.keys ? { persistentKeys: options.keys } : {}),
  });
  if (raw && !(LOG_LEVELS as readonly string[]).includes(raw.trim().toUpperCase())) {
    logger.warn(`${ENV.logLevel}="${raw}" is not a log level (${LOG_LEVELS.join(', ')}); logging at INFO`);
  }
  return logger;
}

/** Used outside any request scope (cold start, background work). */
const defaultLogger = createLogger();

/** Runs `fn` with `scope` as the log context of everything it calls, awaited work included. */
export function withLogScope<T>(scope: LogScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

function write(level: 'debug' | 'info' | 'warn' | 'error', message: string, fields: LogFields): void {
  const scope = scopes.getStore();
  (scope?.logger ?? defaultLogger)[level](message, { ...scope?.keys, ...fields });
}

/** Log lines with the current request's ids, from anywhere in the request's work. */
export const logger = {
  debug: (message: string, fields: LogFields = {}) => write('debug', message, fields),
  info: (message: string, fields: LogFields = {}) => write('info', message, fields),
  warn: (message: string, fields: LogFields = {}) => write('warn', message, fields),
  error: (message: string, fields: LogFields = {}) => write('error', message, fields),
};

/** An error line (what the client must not see), with the current request's ids. */
export function log(message: string, fields: LogFields = {}): void {
  write('error', message, fields);
}

/** An error as log fields: name, message and stack, and the cause when there is one. */
export function errorFields(err: unknown): LogFields {
  if (!(err instanceof Error)) return { error: String(err) };
  const cause = (err as { cause?: unknown }).cause;
  return {
    error: {
      name: err.name,
      message: err.message,
      stack: err.stack,
      ...(cause !== undefined
        ? { cause: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause) }
        : {}),
    },
  };
}
