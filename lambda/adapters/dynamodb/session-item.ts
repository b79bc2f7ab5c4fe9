import { extendLedger, NO_PARTS } from '../../core/part-ledger';
import type {
  ChunkedMultipart,
  MultipartUpload,
  PartLedger,
  RecordedPart,
  StoredObject,
  UploadSession,
  UploadSessionBase,
} from '../../core/ports/metadata';
import { UPLOAD_EXPIRY_INDEX } from '../../config/table-schema';
import { b, bin, K, key, n, num, s, str, type Item } from './table';

/** How long after a session died DynamoDB's TTL may delete its item: longer than a sweep takes to come. */
const SESSION_ITEM_TTL_MARGIN_SECONDS = 86_400;

/**
 * The item of an upload session (docs/storage.md). `direct` tells the kinds apart, `multipartId` a
 * receiving direct session from one whose object is assembled (`tail`), `expectedDigest` one whose
 * client writes its object through one checksummed URL, and `nativeDigest` a natively hashed chunked
 * session, or a verified direct one. A chunked session's parts are summed up in `parts`, a JSON
 * object (the part ledger), never listed, so the item does not grow with them.
 * An item written while `parts` was a JSON list of the parts is read as the ledger of that list.
 * The reverse matters on a rollback: code that expects the list fails on the object before it writes
 * anything, instead of taking an upload for one without parts and completing it with some missing.
 */
export function sessionItem(session: UploadSession): Item {
  const item: Item = {
    ...key(K.upload(session.id)),
    name: s(session.name),
    size: n(session.size),
    version: n(session.version),
    createdAt: n(session.createdAt),
    // DynamoDB's TTL deletes the item only a day after the session died: it frees nothing in S3, so
    // the upload sweeper, which does, must find the session first (docs/storage.md, "Upload expiry").
    ttl: n(session.expiresAt + SESSION_ITEM_TTL_MARGIN_SECONDS),
    // Puts the session into the sparse expiry index the upload sweeper queries.
    [UPLOAD_EXPIRY_INDEX.partitionKey]: s(expiryShard(session.id)),
    [UPLOAD_EXPIRY_INDEX.sortKey]: n(session.expiresAt),
  };
  if (session.kind === 'chunked') {
    item.tail = s(JSON.stringify(session.tail));
    if (session.hashState.length > 0) item.hashState = b(session.hashState);
    if (session.hashing === 'native') item.nativeDigest = s(session.nativeDigest);
    if (session.multipart) {
      Object.assign(item, multipartAttributes(session.multipart));
      item.parts = s(JSON.stringify(session.multipart.parts));
    }
    return item;
  }
  item.direct = { BOOL: true };
  switch (session.phase) {
    case 'receiving':
      return Object.assign(item, multipartAttributes(session.multipart));
    case 'sending':
      item.tail = s(JSON.stringify([session.object]));
      item.expectedDigest = s(session.digest);
      return item;
    case 'verifying':
      item.tail = s(JSON.stringify([session.object]));
      item.hashState = b(session.hashState);
      if (session.resumableVerify) item.resumableVerify = { BOOL: true };
      return item;
    case 'verified':
      item.tail = s(JSON.stringify([session.object]));
      item.nativeDigest = s(session.digest);
      return item;
  }
}

/** The session an item holds, in the kind and phase its attributes say. */
export function toSession(id: string, item: Item): UploadSession {
  const base: UploadSessionBase = {
    id,
    name: str(item, 'name') as string,
    version: num(item, 'version') ?? 0,
    createdAt: num(item, 'createdAt') ?? 0,
    // Items written before the expiry index existed carry the expiry in `ttl` alone.
    expiresAt: num(item, UPLOAD_EXPIRY_INDEX.sortKey) ?? num(item, 'ttl') ?? 0,
  };
  const size = num(item, 'size') ?? 0;
  const hashState = bin(item, 'hashState') ?? new Uint8Array(0);
  const nativeDigest = str(item, 'nativeDigest');
  const multipart = multipartOf(item);
  const tail = JSON.parse(str(item, 'tail') ?? '[]') as StoredObject[];
  if (!item.direct?.BOOL) {
    const chunkedMultipart: ChunkedMultipart | undefined = multipart && { ...multipart, parts: ledgerOf(item) };
    const chunked = { ...base, kind: 'chunked' as const, size, multipart: chunkedMultipart, tail };
    return nativeDigest
      ? { ...chunked, hashing: 'native', nativeDigest, hashState: new Uint8Array(0) }
      : { ...chunked, hashing: 'resumable', hashState };
  }
  if (multipart) return { ...base, kind: 'direct', phase: 'receiving', multipart, size: 0 };
  const [object] = tail;
  if (!object || tail.length !== 1) throw new Error(`direct upload ${id} has no assembled object`);
  if (nativeDigest) return { ...base, kind: 'direct', phase: 'verified', object, size, digest: nativeDigest };
  const expectedDigest = str(item, 'expectedDigest');
  if (expectedDigest) return { ...base, kind: 'direct', phase: 'sending', object, digest: expectedDigest, size: 0 };
  const resumableVerify = item.resumableVerify?.BOOL === true;
  return { ...base, kind: 'direct', phase: 'verifying', object, size, hashState, resumableVerify };
}

/** The expiry index shard of a session id (its first hex digit), or of shard number `n`. */
export function expiryShard(idOrShard: string | number): string {
  if (typeof idOrShard === 'number') return idOrShard.toString(16);
  const digit = parseInt(idOrShard.charAt(0), 16);
  return Number.isNaN(digit) ? '0' : (digit % UPLOAD_EXPIRY_INDEX.shards).toString(16);
}

function multipartAttributes(multipart: MultipartUpload): Item {
  return { multipartId: s(multipart.id), multipartKey: s(multipart.key) };
}

function ledgerOf(item: Item): PartLedger {
  const parts = JSON.parse(str(item, 'parts') ?? '[]') as PartLedger | RecordedPart[];
  return Array.isArray(parts) ? extendLedger(NO_PARTS, parts) : parts;
}

function multipartOf(item: Item): MultipartUpload | undefined {
  const id = str(item, 'multipartId');
  const key = str(item, 'multipartKey');
  return id && key ? { id, key } : undefined;
}
