import { createHash } from 'node:crypto';
import fc from 'fast-check';

/**
 * Generators for the pieces of a request the OCI grammar constrains: repository names, digests,
 * references, pagination values. Each yields a value with what it is, so the oracle can tell a
 * request that must be refused for its name from one that reaches the endpoint.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pulling-manifests
 */

/** A name as it appears in the path (already percent-encoded where it means to be). */
export interface NameChoice {
  readonly path: string;
  /** A name in the grammar and within the depth limit: the route parses and the name is served. */
  readonly valid: boolean;
  readonly kind: string;
}

const hexChars = '0123456789abcdef'.split('');
const hex = (length: number) => fc.string({ unit: fc.constantFrom(...hexChars), minLength: length, maxLength: length });

export const sha256Of = (b: Uint8Array | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Names outside the grammar or the routes: too deep, too long, uppercase, dot segments (plain and
 * percent-encoded, which the gateway passes on as sent), encoded slashes, unicode, empty components.
 * `near` is a valid name they are built around, so traversal attempts aim at real repositories.
 */
export function invalidName(near: string, maxDepth: number): fc.Arbitrary<NameChoice> {
  const base = near.split('/');
  const choices: [string, string][] = [
    ['too-deep', Array.from({ length: maxDepth + 1 }, (_, i) => `p${i}`).join('/')],
    ['much-too-deep', Array.from({ length: maxDepth + 30 }, (_, i) => `q${i}`).join('/')],
    ['too-long', `fz/${'a'.repeat(256)}`],
    ['too-long-component', 'x'.repeat(300)],
    ['uppercase', near.toUpperCase()],
    ['dot-dot', `fz/x/../${near}`],
    ['dot-dot-encoded', `fz/x/%2e%2e/${near}`],
    ['dot-dot-mixed-case', `fz/x/%2E.${'/' + near}`],
    ['dot', `fz/./${base.join('/')}`],
    ['encoded-slash', base.join('%2F')],
    ['encoded-slash-lower', base.join('%2f')],
    ['unicode', `fz/${encodeURIComponent('é')}`],
    ['unicode-raw-latin1', 'fz/caf%C3%A9'],
    ['empty-component', `fz//${base[base.length - 1]}`],
    ['leading-separator', `-${near}`],
    ['trailing-separator', `${near}-`],
    ['double-dot-inside', `${near}..x`],
    ['percent-garbage', `fz/%zz`],
    ['null-byte', `fz/a%00b`],
    ['space', `fz/a%20b`],
    ['catalog-lookalike', '_catalog'],
    ['blobs-in-name', `${near}/blobs/x`],
  ];
  return fc.constantFrom(...choices).map(([kind, path]) => ({ path, valid: false, kind }));
}

/** Any name: mostly the world's own repositories, the rest outside the grammar. */
export function nameChoice(valid: readonly string[], maxDepth: number): fc.Arbitrary<NameChoice> {
  return fc.oneof(
    { weight: 7, arbitrary: fc.constantFrom(...valid).map((path) => ({ path, valid: true, kind: 'known' })) },
    {
      weight: 1,
      arbitrary: fc
        .stringMatching(/^[a-z0-9]{1,8}(?:[._-][a-z0-9]{1,4})?(?:\/[a-z0-9]{1,8}){0,2}$/)
        .map((path) => ({ path: `fz/new/${path}`, valid: true, kind: 'unknown-valid' })),
    },
    { weight: 2, arbitrary: fc.constantFrom(...valid).chain((near) => invalidName(near, maxDepth)) },
  );
}

export interface DigestChoice {
  readonly value: string;
  /** Parses as a digest this registry accepts (sha256 or sha512, lowercase hex of the right length). */
  readonly valid: boolean;
  readonly kind: string;
}

/** Digests: known ones, unknown valid ones, and every way of getting one wrong. */
export function digestChoice(known: readonly string[]): fc.Arbitrary<DigestChoice> {
  const ok = (kind: string) => (value: string) => ({ value, valid: true, kind });
  const bad = (kind: string) => (value: string) => ({ value, valid: false, kind });
  return fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(...known).map(ok('known')) },
    { weight: 2, arbitrary: hex(64).map((h) => ok('unknown-sha256')(`sha256:${h}`)) },
    { weight: 1, arbitrary: hex(128).map((h) => ok('unknown-sha512')(`sha512:${h}`)) },
    {
      weight: 3,
      arbitrary: fc.oneof(
        hex(63).map((h) => bad('short')(`sha256:${h}`)),
        hex(65).map((h) => bad('long')(`sha256:${h}`)),
        hex(64).map((h) => bad('uppercase-hex')(`sha256:${h.toUpperCase().replace(/^./, 'A')}`)),
        hex(64).map((h) => bad('uppercase-algorithm')(`SHA256:${h}`)),
        hex(32).map((h) => bad('unknown-algorithm')(`md5:${h}`)),
        hex(96).map((h) => bad('unregistered-algorithm')(`sha384:${h}`)),
        hex(64).map((h) => bad('algorithm-with-separator')(`sha256+b64u:${h}`)),
        hex(64).map((h) => bad('encoded-colon')(`sha256%3A${h}`)),
        hex(64).map((h) => bad('no-algorithm')(h)),
        hex(64).map((h) => bad('two-colons')(`sha256:${h}:${h}`)),
        fc.constant(bad('empty-encoded')('sha256:')),
        fc.constant(bad('empty')('')),
        fc.constant(bad('colon-only')(':')),
        fc.constant(bad('over-long')(`sha256:${'a'.repeat(300)}`)),
        fc.constant(bad('unicode')(`sha256:${encodeURIComponent('é')}${'a'.repeat(62)}`)),
        fc.constant(bad('non-hex')(`sha256:${'g'.repeat(64)}`)),
        fc.constant(bad('base64-like')(`sha256:${'A-_='.repeat(16)}`)),
      ),
    },
  );
}

export interface ReferenceChoice {
  readonly value: string;
  readonly kind: 'tag' | 'digest' | 'invalid-tag' | 'invalid-digest';
}

/** Manifest references: tags (valid and not) and digests. */
export function referenceChoice(tags: readonly string[], digests: readonly string[]): fc.Arbitrary<ReferenceChoice> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...tags).map((value) => ({ value, kind: 'tag' as const })) },
    {
      weight: 2,
      arbitrary: fc
        .stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}$/)
        .map((value) => ({ value, kind: 'tag' as const })),
    },
    {
      weight: 1,
      arbitrary: fc.constant({ value: `t${'x'.repeat(127)}`, kind: 'tag' as const }),
    },
    {
      weight: 2,
      arbitrary: fc
        .constantFrom(
          `t${'x'.repeat(128)}`,
          '.hidden',
          '-dash',
          encodeURIComponent('é'),
          'a%20b',
          'a%2Fb',
          '%2e%2e',
          'tag!',
          'a%00',
        )
        .map((value) => ({ value, kind: 'invalid-tag' as const })),
    },
    {
      weight: 3,
      arbitrary: digestChoice(digests).map((d) => ({
        value: d.value === '' ? 'sha256:' : d.value,
        kind: d.valid ? ('digest' as const) : ('invalid-digest' as const),
      })),
    },
  );
}

/** Values of `n`: absent, in range, and every way of not being a non-negative integer. */
export const pageSizeValue = fc.constantFrom(
  undefined,
  undefined,
  '',
  '0',
  '1',
  '2',
  '1000',
  '1001',
  '-1',
  '1.5',
  'abc',
  '1e2',
  '0x10',
  '99999999999999999999',
  '%20%202',
  '2,3',
);

/** Values of `last`: absent, empty, real entries, and what no entry can be. */
export function lastValue(entries: readonly string[]): fc.Arbitrary<string | undefined> {
  return fc.oneof(
    fc.constant(undefined),
    fc.constant(''),
    fc.constantFrom(...entries).map((e) => encodeURIComponent(e)),
    fc.constantFrom(
      'x'.repeat(1100),
      'a'.repeat(2100),
      encodeURIComponent('zzz/é'),
      '%00',
      'UPPER',
      '..',
      '%2e%2e%2f',
      encodeURIComponent('a b'),
    ),
  );
}
