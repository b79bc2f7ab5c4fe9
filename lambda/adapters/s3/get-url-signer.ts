import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl, S3RequestPresigner } from '@aws-sdk/s3-request-presigner';
import { buildQueryString, extendedEncodeURIComponent, HttpRequest } from '@smithy/core/protocols';
import type { EndpointV2, FinalizeRequestMiddleware, MetadataBearer, MiddlewareStack } from '@smithy/types';

/** What stands for the key in the request the SDK builds once: replaced by each call's key. */
const PLACEHOLDER = 'registry-presign-placeholder';

/** The unsigned GetObject request of one bucket, as the SDK's middleware builds it for a key. */
interface Template {
  readonly request: HttpRequest;
  /** The path up to where the key goes (`/bucket/` path-style, `/` virtual-hosted). */
  readonly prefix: string;
  readonly presigner: S3RequestPresigner;
  readonly signingRegion?: string;
  readonly signingService?: string;
}

/**
 * Presigned GetObject URLs of one bucket, the same as `getSignedUrl` makes them, for a fraction of
 * its work. `getSignedUrl` clones the client's middleware stack, resolves it, runs it through
 * endpoint resolution, serialization and the build steps, and signs with a presigner (and a SigV4
 * signer, whose signing-key cache goes with it) made for that one call: most of a blob GET's CPU in
 * a function. Here the SDK builds the request once, for a placeholder key, and each call puts its key
 * into a copy of it (encoded as the SDK encodes a greedy path label) and signs that copy with one
 * long-lived presigner from the client's config: the same endpoint, headers, query, credentials,
 * region and signing name. A request the SDK would sign with other credentials (S3 Express session
 * auth) goes through `getSignedUrl` every time.
 */
export class GetUrlSigner {
  private template?: Promise<Template | undefined>;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  async sign(key: string, expiresIn: number, signingDate?: Date): Promise<string> {
    this.template ??= this.build().catch((err: unknown) => {
      this.template = undefined;
      throw err;
    });
    const template = await this.template;
    if (!template) {
      return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn,
        ...(signingDate ? { signingDate } : {}),
      });
    }
    const { request } = template;
    const copy = new HttpRequest({
      ...request,
      headers: { ...request.headers },
      query: { ...request.query },
      path: template.prefix + key.split('/').map(extendedEncodeURIComponent).join('/'),
    });
    const presigned = await template.presigner.presign(copy, {
      expiresIn,
      ...(template.signingRegion !== undefined ? { signingRegion: template.signingRegion } : {}),
      ...(template.signingService !== undefined ? { signingService: template.signingService } : {}),
      ...(signingDate ? { signingDate } : {}),
    });
    return formatUrl(presigned);
  }

  /**
   * Runs the client's middleware for a GetObject of the placeholder key up to where
   * `getSignedUrl` would sign, and keeps the request and what `getSignedUrl` would sign it with.
   */
  private async build(): Promise<Template | undefined> {
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: PLACEHOLDER });
    let captured: { request: HttpRequest; context: Record<string, unknown> } | undefined;
    const capture: FinalizeRequestMiddleware<object, MetadataBearer> = (_next, context) => async (args) => {
      if (!HttpRequest.isInstance(args.request)) throw new Error('the request to presign is no HTTP request');
      captured = { request: args.request, context: context as Record<string, unknown> };
      return { response: {}, output: { $metadata: {} } };
    };
    const stack = this.client.middlewareStack.clone() as unknown as MiddlewareStack<object, MetadataBearer>;
    stack.addRelativeTo(capture, {
      name: 'registryPresignCapture',
      relation: 'before',
      toMiddleware: 'awsAuthMiddleware',
      override: true,
    });
    const handler = command.resolveMiddleware(
      stack as unknown as Parameters<GetObjectCommand['resolveMiddleware']>[0],
      this.client.config,
      {},
    );
    await handler({ input: command.input } as Parameters<typeof handler>[0]);
    if (!captured) throw new Error('the GetObject request was not built');
    const { request, context } = captured;
    if (context.s3ExpressIdentity) return undefined;
    const at = request.path.lastIndexOf(PLACEHOLDER);
    if (at < 0 || at + PLACEHOLDER.length !== request.path.length) return undefined;
    // What getSignedUrl takes from the endpoint and the context, and the headers it removes.
    const authScheme = (context.endpointV2 as EndpointV2 | undefined)?.properties?.authSchemes?.[0] as
      { name?: string; signingName?: string; signingRegion?: string; signingRegionSet?: string[] } | undefined;
    const region = authScheme?.name === 'sigv4a' ? authScheme.signingRegionSet?.join(',') : authScheme?.signingRegion;
    for (const header of ['amz-sdk-invocation-id', 'amz-sdk-request', 'x-amz-user-agent'])
      delete request.headers[header];
    const signingRegion = (context.signing_region as string | undefined) ?? region;
    const signingService = context.signing_service as string | undefined;
    return {
      request,
      prefix: request.path.slice(0, at),
      presigner: new S3RequestPresigner({
        ...this.client.config,
        ...(authScheme?.signingName ? { signingName: authScheme.signingName } : {}),
        region: async () => region as string,
      }),
      ...(signingRegion !== undefined ? { signingRegion } : {}),
      ...(signingService !== undefined ? { signingService } : {}),
    };
  }
}

/** A request as a URL, as the SDK's `formatUrl` writes it. */
function formatUrl(request: {
  readonly protocol: string;
  readonly hostname: string;
  readonly port?: number | undefined;
  readonly path: string;
  readonly query?: Parameters<typeof buildQueryString>[0] | undefined;
}): string {
  const protocol = request.protocol.endsWith(':') ? request.protocol : `${request.protocol}:`;
  const host = request.port ? `${request.hostname}:${request.port}` : request.hostname;
  const path = request.path.startsWith('/') ? request.path : `/${request.path}`;
  const query = request.query ? buildQueryString(request.query) : '';
  return `${protocol}//${host}${path}${query ? `?${query}` : ''}`;
}
