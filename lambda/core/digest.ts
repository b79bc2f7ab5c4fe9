import { DigestInvalidError, UnsupportedError } from './errors';

/**
 * Content digests, `algorithm:encoded`.
 * @see https://github.com/opencontainers/image-spec/blob/v1.1.0/descriptor.md#digests
 */
export interface Digest {
  readonly algorithm: string;
  readonly encoded: string;
  readonly value: string;
}

const DIGEST_GRAMMAR = /^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)$/;

/** Algorithms this registry can compute, with the exact length of their hex encoding. */
const SUPPORTED: Readonly<Record<string, number>> = { sha256: 64, sha512: 128 };

/** Max length of a digest string we accept at all (sha512 plus margin). */
const MAX_DIGEST_LENGTH = 256;

/**
 * Parses a digest string. Throws `DigestInvalidError` when it does not follow the grammar, or when a
 * registered algorithm's encoding has the wrong shape; throws `UnsupportedError` for algorithms this
 * registry cannot verify.
 */
export function parseDigest(input: string): Digest {
  if (input.length > MAX_DIGEST_LENGTH) {
    throw new DigestInvalidError(`digest is longer than ${MAX_DIGEST_LENGTH} characters`);
  }
  const match = DIGEST_GRAMMAR.exec(input);
  if (!match) throw new DigestInvalidError(`invalid digest "${input}": expected algorithm:hex`);
  const algorithm = match[1] as string;
  const encoded = match[2] as string;
  const length = SUPPORTED[algorithm];
  if (length === undefined) {
    throw new UnsupportedError(`digest algorithm "${algorithm}" is not supported; use sha256`);
  }
  if (encoded.length !== length || !/^[a-f0-9]+$/.test(encoded)) {
    throw new DigestInvalidError(`invalid ${algorithm} digest: expected ${length} lowercase hex characters`);
  }
  return { algorithm, encoded, value: input };
}

/** True when the string looks like a digest (contains a colon); used to tell tags from digests. */
export function looksLikeDigest(reference: string): boolean {
  return reference.includes(':');
}
