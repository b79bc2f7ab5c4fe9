import { randomUUID } from 'node:crypto';
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { dynamodbAuthorizations, jsonServiceAuthorizations, s3Authorizations, type Arns } from '../iam/actions';
import { evaluate, type AuthorizationRequest, type PolicyStatement } from '../iam/policy';
import {
  credentialScope,
  presignForward,
  signForward,
  verifySignature,
  type Credentials,
  type SignedRequest,
} from './sigv4';
import type { AwsStandIns, StandInService } from './standins';

/**
 * The one AWS endpoint every local function, the uploader and every presigned URL talks to
 * (`AWS_ENDPOINT_URL`), standing where AWS's own front ends stand: it tells the caller by the access
 * key its request is signed with, maps the request to IAM actions and resources as the Service
 * Authorization Reference does, and lets it through only if the caller's role policies from the
 * template allow every one of them. First it checks the signature with the key's secret (and a
 * presigned URL's expiry), as AWS does before anything else (./sigv4). S3 requests then go to the S3
 * server signed afresh with its own account (so any S3-compatible server with one account can stand
 * there, and it still checks the payload against its declared hash and checksums), DynamoDB
 * requests to DynamoDB Local, and KMS, EventBridge and Secrets Manager requests to the stand-ins.
 * A refusal is the error AWS gives.
 */
export interface Principal {
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>`, as AWS names the caller in refusals. */
  readonly arn: string;
  /** The role's policy statements; undefined for the local account's administrator (the admin CLI, tests). */
  readonly statements?: readonly PolicyStatement[];
  /** Who it is, for the call log: a function's logical id, `uploader`, `admin`. */
  readonly label: string;
}

export interface AwsCall {
  readonly principal: string;
  readonly service: string;
  readonly operation: string;
  readonly status: number;
  readonly denied?: string;
}

export interface AwsEndpointOptions {
  readonly s3Upstream: string;
  /** The S3 server's own account, which signs what is forwarded to it. */
  readonly s3UpstreamCredentials: Credentials;
  readonly region: string;
  readonly dynamodbUpstream: string;
  readonly standIns: AwsStandIns;
  readonly arns: Arns;
  /** A table's partition key name, for `dynamodb:LeadingKeys`. */
  readonly partitionKeyOf: (table: string) => string | undefined;
  readonly onCall?: (call: AwsCall) => void;
}

export interface AwsEndpoint {
  readonly url: string;
  /** Lets requests signed with `credentials` act as `principal`. */
  register(credentials: Credentials, principal: Principal): void;
  stop(): Promise<void>;
}

const JSON_TARGETS: Record<string, StandInService> = {
  TrentService: 'kms',
  AWSEvents: 'events',
  secretsmanager: 'secretsmanager',
};

export async function startAwsEndpoint(options: AwsEndpointOptions): Promise<AwsEndpoint> {
  const principals = new Map<string, Principal>();
  const secrets = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    serve(req, res).catch((err: unknown) => {
      // A request the endpoint cannot map is a gap in the local stack, not the caller's fault: say which.
      options.onCall?.({
        principal: 'unknown',
        service: 'unknown',
        operation: `${req.method} ${req.url}`,
        status: 500,
        denied: String(err),
      });
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`local AWS endpoint: ${String(err)}`);
    });
  });
  server.keepAliveTimeout = 60_000;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const headers = lowerHeaders(req);
    const rawUrl = req.url ?? '/';
    const signed = (body?: Buffer): SignedRequest => ({
      method: req.method ?? 'GET',
      path: rawUrl.split('?')[0] ?? '/',
      query: rawUrl.includes('?') ? rawUrl.slice(rawUrl.indexOf('?') + 1) : '',
      headers,
      ...(body ? { body } : {}),
    });
    const credential = credentialScope(signed());
    const principal = credential ? principals.get(credential.accessKeyId) : undefined;
    const service = credential?.service ?? 's3';
    const call = (operation: string, status: number, denied?: string) =>
      options.onCall?.({ principal: principal?.label ?? 'anonymous', service, operation, status, denied });
    const authenticate = (request: SignedRequest) => verifySignature(request, (id) => secrets.get(id));

    if (service === 's3') {
      const [bucket, ...rest] = url.pathname.slice(1).split('/');
      // `/bucket` and `/bucket/` both name the bucket (the SDK sends the latter for bucket operations).
      const key = rest.join('/') !== '' ? decodeURIComponent(rest.join('/')) : undefined;
      const body = req.method === 'POST' && url.searchParams.has('delete') ? await readAll(req) : undefined;
      const keys = body
        ? [...body.toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => unxml(m[1] ?? ''))
        : [];
      const operation = `${req.method} ${key === undefined ? 'bucket' : 'object'}${[...url.searchParams.keys()]
        .filter((k) => !k.startsWith('X-Amz-') && !k.startsWith('x-id'))
        .map((k) => `?${k}`)
        .join('')}`;
      if (!credential) {
        call(operation, 403, 'no signature');
        return s3Error(res, req.method, 403, 'AccessDenied', 'Access Denied');
      }
      const verdict = authenticate(signed());
      if (!verdict.ok || !principal) {
        const refusal = verdict.ok
          ? {
              status: 403,
              code: 'InvalidAccessKeyId',
              message: 'The AWS Access Key Id you provided does not exist in our records.',
            }
          : verdict;
        call(operation, refusal.status, refusal.message);
        return s3Error(res, req.method, refusal.status, refusal.code, refusal.message);
      }
      const requests = s3Authorizations({
        method: req.method ?? 'GET',
        ...(bucket ? { bucket: decodeURIComponent(bucket) } : {}),
        ...(key !== undefined ? { key } : {}),
        query: url.searchParams,
        headers,
        ...(body ? { keys } : {}),
      });
      const refusal = authorize(principal, requests);
      if (refusal) {
        call(operation, 403, refusal);
        return s3Error(res, req.method, 403, 'AccessDenied', refusal);
      }
      // Without s3:ListBucket, S3 does not say whether a key exists: a missing one is 403, not 404.
      const objectRead = (req.method === 'GET' || req.method === 'HEAD') && key !== undefined;
      if (verdict.presigned && objectRead && (await handOver(signed(), res))) {
        call(operation, 307);
        return;
      }
      const resigned = signForward(signed(), options.s3UpstreamCredentials, options.region);
      const status = await forward(
        req,
        res,
        options.s3Upstream,
        body,
        (upstream) =>
          upstream === 404 && objectRead
            ? authorize(principal, [{ action: 's3:ListBucket', resource: `arn:aws:s3:::${bucket}` }])
            : undefined,
        {
          path: `${signed().path}${resigned.query ? `?${resigned.query}` : ''}`,
          headers: { ...req.headers, ...resigned.headers },
        },
      );
      call(operation, status);
      return;
    }

    const body = await readAll(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.split('.').pop() ?? '';
    const json = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
    const protocol = service === 'dynamodb' ? '1.0' : '1.1';
    const verdict = credential ? authenticate(signed(body)) : undefined;
    if (!principal || !verdict?.ok) {
      // The JSON services say the same for an unknown key, and their own words for a bad signature.
      const mismatch = verdict && !verdict.ok && verdict.code !== 'InvalidAccessKeyId';
      call(operation, 400, mismatch ? verdict.message : 'unknown access key');
      return mismatch
        ? jsonError(res, protocol, 'InvalidSignatureException', verdict.message)
        : jsonError(
            res,
            protocol,
            'UnrecognizedClientException',
            'The security token included in the request is invalid.',
          );
    }
    const requests =
      service === 'dynamodb'
        ? dynamodbAuthorizations(target, json, options.arns, options.partitionKeyOf)
        : jsonServiceAuthorizations(target, json, options.arns, {
            secretArnOf: (secretId) => options.standIns.secretArnOf(secretId),
          });
    const refusal = authorize(principal, requests);
    if (refusal) {
      call(operation, 400, refusal);
      return jsonError(res, protocol, 'AccessDeniedException', refusal);
    }
    if (service === 'dynamodb') {
      call(operation, await forward(req, res, options.dynamodbUpstream, body));
      return;
    }
    const standIn = JSON_TARGETS[target.split('_')[0]?.split('.')[0] ?? ''];
    if (!standIn) {
      call(operation, 400, 'unknown target');
      return jsonError(res, protocol, 'UnknownOperationException', `${target} is not served locally`);
    }
    const answer = options.standIns.handle(standIn, operation, json);
    call(operation, answer.status);
    res.writeHead(answer.status, {
      'content-type': `application/x-amz-json-${protocol}`,
      'x-amzn-requestid': randomUUID(),
    });
    res.end(JSON.stringify(answer.body));
  }

  /**
   * A presigned object read (the URL of a blob GET's redirect, in a client's hands) is handed over to
   * the S3 server once the object is known to be there: a 307 to the same request presigned afresh
   * with the server's account, so that the bytes go from the S3 server to the client, as they go
   * from S3 deployed, rather than through this process (a Node hop in between held pulls to a few
   * hundred MB/s and cost a core). False, with nothing written, when the object is not there or the
   * server cannot say: the request is then forwarded, and answered as AWS answers it.
   */
  async function handOver(request: SignedRequest, res: ServerResponse): Promise<boolean> {
    const upstream = new URL(options.s3Upstream);
    const probe: SignedRequest = { ...request, method: 'HEAD', headers: { host: request.headers.host } };
    const resigned = signForward(probe, options.s3UpstreamCredentials, options.region);
    const status = await new Promise<number>((resolve) => {
      const out = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: 'HEAD',
          path: `${probe.path}${resigned.query ? `?${resigned.query}` : ''}`,
          headers: { ...probe.headers, ...resigned.headers },
        },
        (answer) => {
          answer.resume();
          resolve(answer.statusCode ?? 502);
        },
      );
      out.on('error', () => resolve(502));
      out.end();
    });
    if (status !== 200) return false;
    const query = presignForward(request, options.s3UpstreamCredentials, options.region, upstream.host);
    res.writeHead(307, {
      location: `${upstream.origin}${request.path}?${query}`,
      'content-length': '0',
      'x-amz-request-id': randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase(),
    });
    res.end();
    return true;
  }

  /** The refusal message when some request is not allowed, as AWS words it; undefined when all are. */
  function authorize(principal: Principal, requests: readonly AuthorizationRequest[]): string | undefined {
    if (!principal.statements) return undefined;
    for (const request of requests) {
      const decision = evaluate(principal.statements, request);
      if (decision === 'Allow') continue;
      const why =
        decision === 'ExplicitDeny'
          ? `with an explicit deny in an identity-based policy`
          : `because no identity-based policy allows the ${request.action} action`;
      return `User: ${principal.arn} is not authorized to perform: ${request.action} on resource: ${request.resource} ${why}`;
    }
    return undefined;
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    register: (credentials, principal) => {
      principals.set(credentials.accessKeyId, principal);
      secrets.set(credentials.accessKeyId, credentials.secretAccessKey);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Passes the request on (as it came, or with the path and headers of `as`: a forward signed afresh),
 * and the answer back. `refuse` may turn the upstream's status into an access refusal before
 * anything is written.
 */
function forward(
  req: IncomingMessage,
  res: ServerResponse,
  upstream: string,
  body?: Buffer,
  refuse?: (status: number) => string | undefined,
  as?: { readonly path: string; readonly headers: IncomingMessage['headers'] },
): Promise<number> {
  const target = new URL(upstream);
  return new Promise((resolve, reject) => {
    const out = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: as?.path ?? req.url,
        headers: as?.headers ?? req.headers,
      },
      (answer) => {
        const status = answer.statusCode ?? 502;
        const refusal = refuse?.(status);
        if (refusal) {
          answer.resume();
          s3Error(res, req.method, 403, 'AccessDenied', refusal);
          return resolve(403);
        }
        res.writeHead(status, answer.rawHeaders);
        answer.pipe(res);
        answer.on('end', () => resolve(status));
        answer.on('error', reject);
      },
    );
    out.on('error', (err) => {
      if (!res.headersSent) res.writeHead(503, { 'content-type': 'application/xml' });
      res.end(`<Error><Code>ServiceUnavailable</Code><Message>${String(err)}</Message></Error>`);
      resolve(503);
    });
    req.on('aborted', () => out.destroy());
    if (body) out.end(body);
    else req.pipe(out);
  });
}

function s3Error(res: ServerResponse, method: string | undefined, status: number, code: string, message: string): void {
  const requestId = randomUUID().replace(/-/g, '').slice(0, 16).toUpperCase();
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${xml(message)}</Message><RequestId>${requestId}</RequestId></Error>`;
  res.writeHead(status, { 'content-type': 'application/xml', 'x-amz-request-id': requestId });
  res.end(method === 'HEAD' ? undefined : body);
}

function jsonError(res: ServerResponse, protocol: string, type: string, message: string): void {
  res.writeHead(400, { 'content-type': `application/x-amz-json-${protocol}`, 'x-amzn-requestid': randomUUID() });
  // DynamoDB names the type with its namespace and says Message; the JSON 1.1 services say message.
  res.end(
    JSON.stringify(
      protocol === '1.0' ? { __type: `com.amazon.coral.service#${type}`, Message: message } : { __type: type, message },
    ),
  );
}

function lowerHeaders(req: IncomingMessage): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(req.headers).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(',') : v]),
  );
}

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const xml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const unxml = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
