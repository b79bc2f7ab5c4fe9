import { createHash, randomBytes } from 'node:crypto';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { sessionItem, toSession } from '../../../lambda/adapters/dynamodb/session-item';
import type { Item } from '../../../lambda/adapters/dynamodb/table';
import { MAX_NAME_LENGTH } from '../../../lambda/core/names';
import { extendLedger, NO_PARTS } from '../../../lambda/core/part-ledger';
import type { ChunkedUploadSession, UploadSession } from '../../../lambda/core/ports/metadata';
import { MAX_STAGED_OBJECTS } from '../../../lambda/core/services/uploads/part-writer';
import { memoryRegistry } from '../../support/memory-registry';

const ID = '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const base = { id: ID, name: 'library/app', version: 3, createdAt: 1_700_000_000_000, expiresAt: 1_700_086_400 };
const multipart = { id: 'mp-1', key: `blobs/assembled/${ID}-0a1b2c3d` };
const ledger = { count: 1, size: 20, chain: 'c'.repeat(64) };
const object = { key: multipart.key, size: 12 * 1024 * 1024 };
const state = new Uint8Array([1, 2, 3, 4]);

/** One session of every kind and phase the registry writes. */
const sessions: Record<string, UploadSession> = {
  'chunked, fresh': { ...base, kind: 'chunked', hashing: 'resumable', hashState: state, size: 0, tail: [] },
  'chunked, with parts and staged chunks': {
    ...base,
    kind: 'chunked',
    hashing: 'resumable',
    hashState: state,
    size: 30,
    multipart: { ...multipart, parts: ledger },
    tail: [{ key: `uploads/${ID}/20-0a1b2c3d`, size: 10 }],
  },
  'chunked, hashed natively': {
    ...base,
    kind: 'chunked',
    hashing: 'native',
    nativeDigest: `sha256:${'a'.repeat(64)}`,
    hashState: new Uint8Array(0),
    size: 20,
    multipart: { ...multipart, parts: ledger },
    tail: [],
  },
  'direct, receiving': { ...base, kind: 'direct', phase: 'receiving', multipart, size: 0 },
  'direct, verifying': {
    ...base,
    kind: 'direct',
    phase: 'verifying',
    object,
    size: 4096,
    hashState: state,
    resumableVerify: true,
  },
  'direct, verified': {
    ...base,
    kind: 'direct',
    phase: 'verified',
    object,
    size: object.size,
    digest: `sha256:${'b'.repeat(64)}`,
  },
};

describe('upload session items', () => {
  test.each(Object.entries(sessions))('%s: read back as written', (_label, session) => {
    expect(toSession(ID, sessionItem(session))).toEqual(session);
  });

  test('items of the flat record sessions were before they were typed read as the same kinds and phases', () => {
    const legacy = (attributes: Item): Item => ({
      pk: { S: `upload#${ID}` },
      sk: { S: 'upload' },
      name: { S: base.name },
      version: { N: '3' },
      createdAt: { N: String(base.createdAt) },
      ttl: { N: String(base.expiresAt + 86_400) },
      parts: { S: '[]' },
      tail: { S: '[]' },
      ...attributes,
    });
    const receiving = toSession(
      ID,
      legacy({
        size: { N: '0' },
        direct: { BOOL: true },
        hashState: { B: state },
        multipartId: { S: multipart.id },
        multipartKey: { S: multipart.key },
      }),
    );
    expect(receiving).toMatchObject({ kind: 'direct', phase: 'receiving', multipart, size: 0 });
    const verifying = toSession(
      ID,
      legacy({
        size: { N: '0' },
        direct: { BOOL: true },
        hashState: { B: state },
        tail: { S: JSON.stringify([object]) },
      }),
    );
    expect(verifying).toMatchObject({ kind: 'direct', phase: 'verifying', object, resumableVerify: false });
    // Before the expiry index, the expiry was in `ttl` alone.
    expect(verifying.expiresAt).toBe(base.expiresAt + 86_400);
  });

  test('an item written while parts were listed reads as the ledger of those parts', () => {
    const parts = [
      { partNumber: 1, etag: '"e1"', size: 20 },
      { partNumber: 2, etag: '"e2"', size: 7 },
    ];
    const item = sessionItem(sessions['chunked, with parts and staged chunks']!);
    // What is written now is no list: code that reads a list fails on it instead of finding no parts.
    expect(JSON.parse(item.parts?.S ?? '[]')).toEqual(ledger);
    item.parts = { S: JSON.stringify(parts) };
    const read = toSession(ID, item) as ChunkedUploadSession;
    expect(read.multipart?.parts).toEqual(extendLedger(NO_PARTS, parts));
    expect(read.multipart?.parts).toMatchObject({ count: 2, size: 27 });
  });

  test('a direct item with neither a multipart upload nor one assembled object is refused', () => {
    const item = sessionItem(sessions['direct, verifying']!);
    item.tail = { S: '[]' };
    expect(() => toSession(ID, item)).toThrow(/no assembled object/);
  });
});

/**
 * An item's size as DynamoDB counts it against its 400 KB limit: each attribute's name plus its
 * value (strings and binaries by their bytes, numbers at most 21 bytes, booleans 1).
 */
function itemSize(item: Item): number {
  const valueSize = (v: AttributeValue): number => {
    if (v.S !== undefined) return Buffer.byteLength(v.S);
    if (v.N !== undefined) return Math.min(21, Math.ceil(v.N.replace(/^-|\./g, '').length / 2) + 1);
    if (v.B !== undefined) return v.B.length;
    if (v.BOOL !== undefined || v.NULL !== undefined) return 1;
    throw new Error(`no size rule for ${JSON.stringify(v)}`);
  };
  return Object.entries(item).reduce((sum, [name, v]) => sum + Buffer.byteLength(name) + valueSize(v), 0);
}

/** What the item may weigh whatever a session holds; DynamoDB refuses items over 400 KB. */
const ITEM_BUDGET = 8 * 1024;

describe('the session item does not grow with the parts or chunks a session holds', () => {
  test('10,000 parts recorded over 200 requests: the item weighs the same after the first part as after the last', async () => {
    const { services, metadata } = memoryRegistry({ minPartSize: 1, partSize: 2 });
    const session = await services.uploads.start('library/app');
    const sizes: number[] = [];
    for (let start = 0; start < 20_000; start += 100) {
      await services.uploads.append('library/app', session.id, randomBytes(100), { start, end: start + 99 });
      sizes.push(itemSize(sessionItem((await metadata.get(session.id))!)));
    }
    const stored = (await metadata.get(session.id)) as ChunkedUploadSession;
    expect(stored.multipart?.parts.count).toBe(10_000);
    expect(Math.max(...sizes)).toBeLessThan(ITEM_BUDGET);
    // Only the counters' digits vary: a few bytes between 50 parts and 10,000.
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThan(16);
  });

  test('any number of tiny chunks: at most a bounded list of staged objects, and the blob is exact', async () => {
    const { services, metadata, store } = memoryRegistry({ minPartSize: 4096 });
    const blob = randomBytes(3000);
    const session = await services.uploads.start('library/app');
    let largest = 0;
    for (let start = 0; start < blob.length; start += 3) {
      await services.uploads.append('library/app', session.id, blob.subarray(start, start + 3), {
        start,
        end: start + 2,
      });
      const stored = (await metadata.get(session.id)) as ChunkedUploadSession;
      expect(stored.tail.length).toBeLessThanOrEqual(MAX_STAGED_OBJECTS);
      largest = Math.max(largest, itemSize(sessionItem(stored)));
    }
    expect(largest).toBeLessThan(ITEM_BUDGET);
    const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;
    const record = await services.uploads.complete('library/app', session.id, digest);
    expect(Buffer.from(await store.get(record.key)).equals(blob)).toBe(true);
    expect([...store.objects.keys()]).toEqual([record.key]);
  });

  test('the largest session the registry can write stays within the budget', () => {
    const id = 'ffffffff-ffff-4fff-bfff-ffffffffffff';
    const name = Array.from({ length: 64 }, () => 'abc')
      .join('/')
      .slice(0, MAX_NAME_LENGTH);
    const largest: ChunkedUploadSession = {
      id,
      name,
      version: Number.MAX_SAFE_INTEGER,
      createdAt: Number.MAX_SAFE_INTEGER,
      expiresAt: Number.MAX_SAFE_INTEGER,
      kind: 'chunked',
      hashing: 'native',
      nativeDigest: `sha256:${'f'.repeat(64)}`,
      hashState: new Uint8Array(0),
      size: Number.MAX_SAFE_INTEGER,
      // S3 upload ids are opaque; allow far more than the ~150 characters AWS hands out.
      multipart: {
        id: 'x'.repeat(1024),
        key: `blobs/assembled/${id}-ffffffff`,
        parts: { count: 10_000, size: Number.MAX_SAFE_INTEGER, chain: 'f'.repeat(64) },
      },
      tail: Array.from({ length: MAX_STAGED_OBJECTS }, () => ({
        key: `uploads/${id}/${Number.MAX_SAFE_INTEGER}-ffffffff`,
        size: 5 * 1024 * 1024,
      })),
    };
    const size = itemSize(sessionItem(largest));
    expect(size).toBeLessThan(ITEM_BUDGET);
    // A resumable state instead of a native digest: 116 bytes of hash-wasm state.
    const resumable: ChunkedUploadSession = {
      ...largest,
      hashing: 'resumable',
      nativeDigest: undefined,
      hashState: randomBytes(116),
    };
    expect(itemSize(sessionItem(resumable))).toBeLessThan(ITEM_BUDGET);
  });
});
