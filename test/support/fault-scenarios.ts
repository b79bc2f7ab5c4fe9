import { randomBytes } from 'node:crypto';
import type { Fault } from './fault-proxy';
import { dynamodbError, s3Error } from './fault-proxy';
import { RegistryClient, sha256 } from './http-client';
import type { StoredState } from './stored-state';

/** Which server a fault sits in front of. */
export type Backend = 's3' | 'dynamodb';

/** How long a `delay` fault holds a request: longer than the suite's request timeout. */
export const DELAY_MS = 3000;

/** A fault as the suite arms it: its name in the table, and the server it sits in front of. */
export interface FaultCase {
  readonly name: string;
  readonly backend: Backend;
  readonly fault: Fault;
}

/** Every fault, in front of each server: what an outage of S3 or DynamoDB looks like to the SDK. */
export const FAULTS: readonly FaultCase[] = [
  { name: 'DynamoDB connection reset', backend: 'dynamodb', fault: { kind: 'reset' } },
  { name: 'DynamoDB no answer in time', backend: 'dynamodb', fault: { kind: 'delay', ms: DELAY_MS } },
  {
    name: 'DynamoDB 400 ThrottlingException',
    backend: 'dynamodb',
    fault: dynamodbError(
      400,
      'com.amazon.coral.availability#ThrottlingException',
      'Rate of requests exceeds the allowed throughput.',
    ),
  },
  {
    name: 'DynamoDB 500 InternalServerError',
    backend: 'dynamodb',
    fault: dynamodbError(500, 'com.amazonaws.dynamodb.v20120810#InternalServerError', 'Internal server error'),
  },
  { name: 'DynamoDB hangs up mid-request', backend: 'dynamodb', fault: { kind: 'hangup' } },
  { name: 'S3 connection reset', backend: 's3', fault: { kind: 'reset' } },
  { name: 'S3 no answer in time', backend: 's3', fault: { kind: 'delay', ms: DELAY_MS } },
  { name: 'S3 503 SlowDown', backend: 's3', fault: s3Error(503, 'SlowDown', 'Please reduce your request rate.') },
  {
    name: 'S3 500 InternalError',
    backend: 's3',
    fault: s3Error(500, 'InternalError', 'We encountered an internal error.'),
  },
  { name: 'S3 hangs up mid-request', backend: 's3', fault: { kind: 'hangup' } },
];

/** A small image: config, one layer, and a manifest tagged `v1` (over the 256 KiB inline limit when `large`). */
export interface Image {
  readonly name: string;
  readonly config: Buffer;
  readonly layer: Buffer;
  readonly manifest: string;
  readonly digest: string;
  readonly tag: string;
}

/** A fresh image for repository `name`: random config and layer, so every case pushes new blobs. */
export function imageFor(name: string, large = false): Image {
  const config = Buffer.from(`{"architecture":"amd64","os":"linux","n":"${randomBytes(8).toString('hex')}"}`);
  const layer = randomBytes(4096);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(layer), size: layer.length }],
    // Past the inline limit the manifest's body lives in S3, so S3 faults reach manifest PUT and GET.
    ...(large ? { annotations: { padding: 'x'.repeat(300 * 1024) } } : {}),
  });
  return { name, config, layer, manifest, digest: sha256(manifest), tag: 'v1' };
}

/** The media type of the suite's manifests. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

/** What an operation's `prepare` hands to its `run`. */
export interface Prepared {
  readonly location?: string;
}

/** One registry operation under a fault: how to get there, what to send, and what may be left. */
export interface Operation {
  readonly name: string;
  /** Whether its image's manifest is stored in S3. */
  readonly large?: boolean;
  /** A read: it must leave the stored state as it was. */
  readonly read?: boolean;
  /** The status when nothing fails. */
  readonly success: number;
  prepare(client: RegistryClient, image: Image): Promise<Prepared>;
  run(client: RegistryClient, image: Image, prepared: Prepared): Promise<Response>;
  /** The state before (`old`) or after (`new`) the operation, or undefined for anything in between. */
  outcome(state: StoredState, image: Image): 'old' | 'new' | undefined;
  /** What a client does next once the fault is gone, with the statuses that are fine. */
  again(client: RegistryClient, image: Image, prepared: Prepared): Promise<Response>;
  readonly againOk: readonly number[];
}

const octets = { 'Content-Type': 'application/octet-stream' };
/** The URL that finishes the upload at `location` with `digest`. */
export const complete = (location: string, digest: string) =>
  `${location}${location.includes('?') ? '&' : '?'}digest=${encodeURIComponent(digest)}`;

/** A step of a push or pull that got another answer than it needed; `status` is what it got. */
export class StepFailed extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly retryAfter: string | null,
  ) {
    super(message);
  }
}

async function expectStatus(res: Response, status: number, what: string): Promise<Response> {
  if (res.status !== status) {
    throw new StepFailed(`${what}: ${res.status} ${await res.text()}`, res.status, res.headers.get('retry-after'));
  }
  return res;
}

/** Opens an upload session as docker does (POST), returning its Location. */
export async function startUpload(client: RegistryClient, name: string): Promise<string> {
  const res = await expectStatus(await client.request('POST', `/v2/${name}/blobs/uploads/`), 202, 'upload POST');
  return res.headers.get('location') as string;
}

/** Pushes a blob as docker does: POST, one streamed PATCH, an empty PUT with the digest. */
export async function pushBlob(client: RegistryClient, name: string, bytes: Buffer): Promise<void> {
  const location = await startUpload(client, name);
  const patch = await client.request('PATCH', location, { body: bytes, headers: octets });
  await expectStatus(patch, 202, 'upload PATCH');
  const next = patch.headers.get('location') ?? location;
  await expectStatus(await client.request('PUT', complete(next, sha256(bytes))), 201, 'upload PUT');
}

/** Pushes the whole image: both blobs, then the manifest under its tag. */
export async function pushImage(client: RegistryClient, image: Image): Promise<void> {
  await pushBlob(client, image.name, image.config);
  await pushBlob(client, image.name, image.layer);
  const res = await client.request('PUT', `/v2/${image.name}/manifests/${image.tag}`, {
    body: image.manifest,
    headers: { 'Content-Type': OCI_MANIFEST },
  });
  await expectStatus(res, 201, 'manifest PUT');
}

/** Pulls the image by tag and checks every byte: manifest, then each blob through its redirect. */
export async function pullImage(client: RegistryClient, image: Image): Promise<void> {
  const manifest = await client.request('GET', `/v2/${image.name}/manifests/${image.tag}`, {
    headers: { Accept: OCI_MANIFEST },
  });
  await expectStatus(manifest, 200, 'manifest GET');
  if ((await manifest.text()) !== image.manifest) throw new Error('manifest GET: other bytes');
  for (const blob of [image.config, image.layer]) {
    const res = await expectStatus(
      await client.request('GET', `/v2/${image.name}/blobs/${sha256(blob)}`),
      307,
      'blob GET',
    );
    const bytes = Buffer.from(await (await fetch(res.headers.get('location') as string)).arrayBuffer());
    if (!bytes.equals(blob)) throw new Error('blob GET: other bytes');
  }
}

const layerLinked = (state: StoredState, image: Image) => state.links.has(sha256(image.layer));
const tagged = (state: StoredState, image: Image) =>
  state.tags.get(image.tag) === image.digest && state.manifests.has(image.digest);
const untouched = (state: StoredState, image: Image) => (tagged(state, image) ? 'old' : undefined);
const pushed = async (client: RegistryClient, image: Image) => {
  await pushImage(client, image);
  return {};
};

/** A read of a pushed image: it must leave everything as it was. */
function read(name: string, method: string, path: (image: Image) => string, success: number): Operation {
  const send = (client: RegistryClient, image: Image) =>
    client.request(method, path(image), { headers: { Accept: OCI_MANIFEST } });
  return {
    name,
    read: true,
    ...(name === 'manifest GET' ? { large: true } : {}),
    success,
    prepare: pushed,
    run: send,
    outcome: untouched,
    again: send,
    againOk: [success],
  };
}

/** The operations of a push and a pull, and a delete, each run under every fault. */
export const OPERATIONS: readonly Operation[] = [
  {
    name: 'upload POST',
    success: 202,
    prepare: async () => ({}),
    run: (client, image) => client.request('POST', `/v2/${image.name}/blobs/uploads/`),
    outcome: (state) => (state.sessions.length === 0 ? 'old' : state.sessions.length === 1 ? 'new' : undefined),
    again: (client, image) => client.request('POST', `/v2/${image.name}/blobs/uploads/`),
    againOk: [202],
  },
  {
    name: 'upload PATCH',
    success: 202,
    prepare: async (client, image) => ({ location: await startUpload(client, image.name) }),
    run: (client, image, { location }) =>
      client.request('PATCH', location as string, { body: image.layer, headers: octets }),
    outcome: (state, image) => {
      const [session] = state.sessions;
      if (!session || state.sessions.length > 1) return undefined;
      return session.size === 0 ? 'old' : session.size === image.layer.length ? 'new' : undefined;
    },
    // A resuming client asks how far the upload got.
    again: (client, _image, { location }) => client.request('GET', location as string),
    againOk: [204],
  },
  {
    name: 'upload PUT',
    success: 201,
    prepare: async (client, image) => {
      const location = await startUpload(client, image.name);
      const patch = await client.request('PATCH', location, { body: image.layer, headers: octets });
      await expectStatus(patch, 202, 'upload PATCH');
      return { location: patch.headers.get('location') ?? location };
    },
    run: (client, image, { location }) => client.request('PUT', complete(location as string, sha256(image.layer))),
    outcome: (state, image) => {
      if (layerLinked(state, image)) return 'new';
      return state.sessions.length === 1 && state.sessions[0]?.size === image.layer.length ? 'old' : undefined;
    },
    // The same PUT again: it finishes the upload, or the upload is already gone because it finished.
    again: (client, image, { location }) => client.request('PUT', complete(location as string, sha256(image.layer))),
    againOk: [201, 404],
  },
  {
    name: 'manifest PUT',
    large: true,
    success: 201,
    prepare: async (client, image) => {
      await pushBlob(client, image.name, image.config);
      await pushBlob(client, image.name, image.layer);
      return {};
    },
    run: (client, image) =>
      client.request('PUT', `/v2/${image.name}/manifests/${image.tag}`, {
        body: image.manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      }),
    outcome: (state, image) =>
      tagged(state, image) ? 'new' : state.tags.size === 0 && state.manifests.size === 0 ? 'old' : undefined,
    again: (client, image) =>
      client.request('PUT', `/v2/${image.name}/manifests/${image.tag}`, {
        body: image.manifest,
        headers: { 'Content-Type': OCI_MANIFEST },
      }),
    againOk: [201],
  },
  read('manifest GET', 'GET', (i) => `/v2/${i.name}/manifests/${i.tag}`, 200),
  read('blob GET', 'GET', (i) => `/v2/${i.name}/blobs/${sha256(i.layer)}`, 307),
  read('blob HEAD', 'HEAD', (i) => `/v2/${i.name}/blobs/${sha256(i.layer)}`, 200),
  read('tags list', 'GET', (i) => `/v2/${i.name}/tags/list`, 200),
  read('catalog', 'GET', () => '/v2/_catalog', 200),
  {
    name: 'manifest DELETE',
    success: 202,
    prepare: pushed,
    run: (client, image) => client.request('DELETE', `/v2/${image.name}/manifests/${image.digest}`),
    outcome: (state, image) =>
      tagged(state, image) ? 'old' : state.tags.size === 0 && state.manifests.size === 0 ? 'new' : undefined,
    again: (client, image) => client.request('DELETE', `/v2/${image.name}/manifests/${image.digest}`),
    againOk: [202, 404],
  },
];
