import { performance } from 'node:perf_hooks';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  GROUP_DIMENSION,
  METRICS_NAMESPACE,
  REGISTRY_METRICS,
  SERVICE_NAME,
  type RegistryMetric,
} from '../config/observability';
import type { FunctionGroup } from '../config/routes';
import { createLogger, withLogScope, type LogFields } from './log';
import { parseOciPath } from '../core/paths';
import type { HttpResponse } from './response';

/** Who serves requests: a function group, or the streaming uploader. */
export type ObservedGroup = FunctionGroup | 'uploader';

/** The header every response carries, with the id the logs of the request carry. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

export interface ObservabilityOptions {
  readonly group: ObservedGroup;
  /**
   * TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL or SILENT.
   * @default REGISTRY_LOG_LEVEL, else INFO
   */
  readonly logLevel?: string;
  /**
   * Emit the registry's metrics as EMF lines on stdout (CloudWatch turns them into metrics for
   * Lambda and for the uploader's awslogs log group alike).
   * @default true
   */
  readonly metrics?: boolean;
}

/** The ids a request's log lines carry. */
export interface RequestIds {
  /** API Gateway's request id deployed (the uploader's own id behind the load balancer). */
  readonly requestId: string;
  /** Lambda's request id, when a function serves the request. */
  readonly lambdaRequestId?: string;
  /** Anything else that identifies the request (a trace id, the first request of an environment). */
  readonly extra?: LogFields;
}

/** What the access log line says about a finished request; never headers or the query string. */
export interface AccessRecord {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Request body bytes, when known. */
  readonly requestBytes?: number;
  readonly responseBytes: number;
}

/** CloudWatch's unit of each metric. */
const UNITS: Record<RegistryMetric, 'Count' | 'Bytes' | 'Milliseconds'> = {
  Pushes: 'Count',
  Pulls: 'Count',
  BlobBytesPushed: 'Bytes',
  Errors4xx: 'Count',
  Errors5xx: 'Count',
  Latency: 'Milliseconds',
  UploadsInFlight: 'Count',
  CacheHits: 'Count',
  CacheMisses: 'Count',
  UpstreamFailures: 'Count',
  UpstreamBytes: 'Bytes',
};

/**
 * Logs and metrics of one function group (or the uploader): one access log line and one EMF line
 * per request, both carrying the request id.
 *
 * Metrics are buffered per request and written in one synchronous step when it ends, so a process
 * that serves requests concurrently never mixes two requests' metrics into one line; in Lambda
 * that is one flush per invocation.
 *
 * The line is CloudWatch's embedded metric format, written straight to stdout (as raw lines, which
 * Lambda's runtime passes on unchanged, and the uploader's awslogs driver too): one directive in
 * the registry's namespace with the dimensions service and function group, each metric's unit, its
 * value (or values), and the request id as a property. It was written by Powertools' Metrics
 * before; the same line built here costs a fraction of the CPU (its validation and console
 * formatting were about 8 % of a manifest GET's CPU, measured with the V8 profiler).
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
export class Observability {
  readonly logger: Logger;
  private readonly metrics: boolean;

  constructor(readonly options: ObservabilityOptions) {
    this.logger = createLogger({
      ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
      keys: { [GROUP_DIMENSION]: options.group },
    });
    this.metrics = options.metrics !== false;
  }

  get group(): ObservedGroup {
    return this.options.group;
  }

  /** Starts observing a request: its clock, its metrics, its log keys. */
  begin(ids: RequestIds): RequestObservation {
    return new RequestObservation(this, ids);
  }

  /** @internal Writes one request's metrics as one EMF line. */
  publish(values: ReadonlyMap<RegistryMetric, readonly number[]>, requestId: string): void {
    if (!this.metrics || values.size === 0) return;
    const line: Record<string, unknown> = {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: METRICS_NAMESPACE,
            Dimensions: [['service', GROUP_DIMENSION]],
            Metrics: [...values.keys()].map((Name) => ({ Name, Unit: UNITS[Name] })),
          },
        ],
      },
      service: SERVICE_NAME,
      [GROUP_DIMENSION]: this.options.group,
    };
    // EMF takes up to 100 values of a metric in one line; a request records a handful.
    for (const [name, list] of values) line[name] = list.length === 1 ? list[0] : list.slice(0, 100);
    line.requestId = requestId;
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}

/** One request being served: count metrics into it, log within it, and finish it once. */
export class RequestObservation {
  private readonly started = performance.now();
  private readonly values = new Map<RegistryMetric, number[]>();
  private finished = false;
  /** The keys every line of this request carries. */
  readonly keys: LogFields;

  constructor(
    private readonly owner: Observability,
    readonly ids: RequestIds,
  ) {
    this.keys = {
      requestId: ids.requestId,
      ...(ids.lambdaRequestId !== undefined ? { lambdaRequestId: ids.lambdaRequestId } : {}),
      ...ids.extra,
    };
  }

  /** Runs `fn` so that every line it logs, however deep, carries this request's ids. */
  run<T>(fn: () => T): T {
    return withLogScope({ logger: this.owner.logger, keys: this.keys }, fn);
  }

  /** Adds a value to one of the request's metrics (each value becomes a sample). */
  record = (metric: RegistryMetric, value: number): void => {
    const list = this.values.get(metric);
    if (list) list.push(value);
    else this.values.set(metric, [value]);
  };

  /**
   * Ends the request: adds the `X-Request-Id` header to its response, logs the access line and
   * writes its metrics (latency, errors, pushes and pulls). Returns the response.
   */
  finish<R extends HttpResponse | undefined>(response: R, access: Omit<AccessRecord, 'status' | 'responseBytes'>): R {
    if (response) response.headers[REQUEST_ID_HEADER] = this.ids.requestId;
    const status = response?.statusCode ?? 500;
    this.end({ ...access, status, responseBytes: access.method === 'HEAD' ? 0 : bodyBytes(response) });
    return response;
  }

  /** Ends a request whose response was written some other way (a Node server). */
  end(access: AccessRecord): void {
    if (this.finished) return;
    this.finished = true;
    const durationMs = Math.round((performance.now() - this.started) * 100) / 100;
    for (const [metric, value] of outcomeMetrics(access)) this.record(metric, value);
    this.record(REGISTRY_METRICS.latency, durationMs);
    this.owner.logger.info('request', {
      ...this.keys,
      method: access.method,
      path: access.path,
      status: access.status,
      durationMs,
      ...(access.requestBytes !== undefined ? { requestBytes: access.requestBytes } : {}),
      responseBytes: access.responseBytes,
    });
    this.owner.publish(this.values, this.ids.requestId);
  }
}

/** Pushes, pulls and error counts, from what was asked and how it was answered. */
function outcomeMetrics(access: AccessRecord): [RegistryMetric, number][] {
  const out: [RegistryMetric, number][] = [];
  if (access.status >= 500) out.push([REGISTRY_METRICS.errors5xx, 1]);
  else if (access.status >= 400) out.push([REGISTRY_METRICS.errors4xx, 1]);
  if (parseOciPath(access.path)?.kind === 'manifest') {
    if (access.method === 'PUT' && access.status === 201) out.push([REGISTRY_METRICS.pushes, 1]);
    if (access.method === 'GET' && access.status === 200) out.push([REGISTRY_METRICS.pulls, 1]);
  }
  return out;
}

function bodyBytes(response: HttpResponse | undefined): number {
  const body = response?.body;
  if (body === undefined) return 0;
  return response?.isBase64Encoded ? Buffer.byteLength(body, 'base64') : Buffer.byteLength(body);
}
