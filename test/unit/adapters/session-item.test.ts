import { sessionItem, toSession } from '../../../lambda/adapters/dynamodb/session-item';
import type { Item } from '../../../lambda/adapters/dynamodb/table';
import type { UploadSession } from '../../../lambda/core/ports/metadata';

const ID = '0f1e2d3c-4b5a-4978-8a6b-5c4d3e2f1a0b';
const base = { id: ID, name: 'library/app', version: 3, createdAt: 1_700_000_000_000, expiresAt: 1_700_086_400 };
const multipart = { id: 'mp-1', key: `blobs/assembled/${ID}-0a1b2c3d` };
const object = { key: multipart.key, size: 12 * 1024 * 1024 };
const state = new Uint8Array([1, 2, 3, 4]);

/** One session of every kind and phase the registry writes. */
const sessions: Record<string, UploadSession> = {
  'chunked, fresh': { ...base, kind: 'chunked', hashing: 'resumable', hashState: state, size: 0, parts: [], tail: [] },
  'chunked, with parts and staged chunks': {
    ...base,
    kind: 'chunked',
    hashing: 'resumable',
    hashState: state,
    size: 30,
    multipart,
    parts: [{ partNumber: 1, etag: '"e1"', size: 20 }],
    tail: [{ key: `uploads/${ID}/20-0a1b2c3d`, size: 10 }],
  },
  'chunked, hashed natively': {
    ...base,
    kind: 'chunked',
    hashing: 'native',
    nativeDigest: `sha256:${'a'.repeat(64)}`,
    hashState: new Uint8Array(0),
    size: 20,
    multipart,
    parts: [{ partNumber: 1, etag: '"e1"', size: 20 }],
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

  test('a direct item with neither a multipart upload nor one assembled object is refused', () => {
    const item = sessionItem(sessions['direct, verifying']!);
    item.tail = { S: '[]' };
    expect(() => toSession(ID, item)).toThrow(/no assembled object/);
  });
});
