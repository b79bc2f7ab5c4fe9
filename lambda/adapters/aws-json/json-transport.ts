import http from 'node:http';
import https from 'node:https';

/** An answer of a JSON-protocol service, read whole. */
export interface JsonAnswer {
  readonly status: number;
  /** `x-amzn-errortype`, when the service named its error there. */
  readonly errorType?: string;
  readonly text: string;
}

/** An error answer of the service, named as the SDK names it (`ThrottlingException`, `NotFoundException`). */
export class AwsServiceError extends Error {
  readonly $metadata: { readonly httpStatusCode: number };

  constructor(name: string, message: string, httpStatusCode: number) {
    super(message);
    this.name = name;
    this.$metadata = { httpStatusCode };
  }
}

/**
 * The endpoint the environment configures for a service, as the SDK reads it:
 * `AWS_ENDPOINT_URL_<ID>` (`KMS`, `DYNAMODB`), then `AWS_ENDPOINT_URL`, unless
 * `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is `true`; undefined when none is.
 */
export function configuredEndpoint(endpointEnvId: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === 'true') return undefined;
  return env[`AWS_ENDPOINT_URL_${endpointEnvId}`] ?? env.AWS_ENDPOINT_URL;
}

/** Connections are kept open between calls, as the SDK's handler keeps them (50 per origin). */
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 50 };
const agents = { 'http:': new http.Agent(AGENT_OPTIONS), 'https:': new https.Agent(AGENT_OPTIONS) };

/**
 * POSTs `body` to `url` with `headers` on a kept-open connection and reads the whole answer, within
 * `timeoutMs` from the start (connecting, sending, the answer's last byte). A call that runs out of
 * time fails with a TimeoutError, a broken or refused connection with Node's error (its `code`),
 * both of which `classifyOutage` takes for a service that did not answer.
 *
 * Plain `http.request`: in a function under load, the SDK's HTTP handler (four timers a request, its
 * response wrapper, an async iterator over the body) and `fetch` cost noticeably more CPU per call.
 */
export function postJson(
  url: URL,
  headers: Record<string, string>,
  body: string,
  options: { readonly timeoutMs: number; readonly abortSignal?: AbortSignal },
): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const { abortSignal } = options;
    if (abortSignal?.aborted) return reject(abortError(abortSignal));
    const protocol = url.protocol === 'https:' ? 'https:' : 'http:';
    const send = protocol === 'https:' ? https.request : http.request;
    const req = send(
      {
        protocol,
        hostname: url.hostname,
        port: url.port || undefined,
        path: `${url.pathname || '/'}${url.search}`,
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        agent: agents[protocol],
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', fail);
        res.on('aborted', () => fail(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
        res.on('end', () => {
          finish();
          const errorType = res.headers['x-amzn-errortype'];
          resolve({
            status: res.statusCode ?? 0,
            ...(typeof errorType === 'string' ? { errorType } : {}),
            text: Buffer.concat(chunks).toString('utf8'),
          });
        });
      },
    );
    const timer = setTimeout(() => {
      const err = new Error(`no whole answer from ${url.host} within ${options.timeoutMs} ms`);
      err.name = 'TimeoutError';
      req.destroy(err);
    }, options.timeoutMs);
    const onAbort = () => req.destroy(abortError(abortSignal!));
    abortSignal?.addEventListener('abort', onAbort, { once: true });
    function finish() {
      clearTimeout(timer);
      abortSignal?.removeEventListener('abort', onAbort);
    }
    function fail(err: Error) {
      finish();
      reject(err);
    }
    req.on('error', fail);
    req.end(body);
  });
}

function abortError(signal: AbortSignal): Error {
  // The signal's own reason (AbortSignal.timeout's is a TimeoutError), duck-typed: a DOMException
  // may come from another realm than this module's Error.
  const reason: unknown = signal.reason;
  if (typeof reason === 'object' && reason !== null && 'name' in reason) return reason as Error;
  const err = new Error('the call was aborted');
  err.name = 'AbortError';
  return err;
}

/**
 * The AwsServiceError of an error answer: named by `x-amzn-errortype` or the body's `__type` (or
 * `code`), the part after `#` and before `:` as the SDK names it
 * (`com.amazonaws.dynamodb.v20120810#ResourceNotFoundException`,
 * `NotFoundException:http://internal.amazon.com/…`); an answer that is no JSON (a proxy's page) by
 * its status alone.
 */
export function serviceError(answer: JsonAnswer): AwsServiceError {
  let parsed: { __type?: string; code?: string; message?: string; Message?: string } = {};
  try {
    parsed = (JSON.parse(answer.text) as typeof parsed | null) ?? {};
  } catch {
    // Named by its status below.
  }
  const type = answer.errorType ?? parsed.__type ?? parsed.code ?? `Http${answer.status}`;
  const name = type.split(':')[0]!.split('#').pop()!;
  return new AwsServiceError(
    name,
    parsed.message ?? parsed.Message ?? `${name} (HTTP ${answer.status})`,
    answer.status,
  );
}
