import { randomBytes, scrypt, timingSafeEqual, createHash } from 'node:crypto';

/**
 * Password hashes: scrypt from node:crypto, memory-hard, with its parameters kept in the hash so
 * they can be raised later without invalidating old hashes. N=2^15, r=8, p=1 uses 32 MiB and
 * about 0.1 s of CPU, within OWASP's recommended range.
 */
const PARAMS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const PREFIX = 'scrypt';

function derive(password: string, salt: Buffer, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((ok, fail) =>
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { N, r, p, maxmem: 256 * N * r }, (err, key) =>
      err ? fail(err) : ok(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMS.N, PARAMS.r, PARAMS.p);
  return [PREFIX, PARAMS.N, PARAMS.r, PARAMS.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/**
 * Checks a password against a hash in constant time. With no hash (an unknown user) it still spends
 * the same work on a throwaway hash, so timing does not tell which user names exist.
 */
export async function verifyPassword(password: string, hash: string | undefined): Promise<boolean> {
  const parts = (hash ?? DECOY).split('$');
  const [prefix, n, r, p, salt, expected] = parts;
  if (parts.length !== 6 || prefix !== PREFIX) return false;
  const want = Buffer.from(expected as string, 'base64url');
  const got = await derive(password, Buffer.from(salt as string, 'base64url'), Number(n), Number(r), Number(p));
  return timingSafeEqual(got, want) && hash !== undefined;
}

/** A hash no password matches (its key is random), used when the user does not exist. */
const DECOY = [
  PREFIX,
  PARAMS.N,
  PARAMS.r,
  PARAMS.p,
  randomBytes(16).toString('base64url'),
  randomBytes(KEY_LENGTH).toString('base64url'),
].join('$');

/** Robot tokens carry 256 random bits, so a fast hash is enough: nobody can search that space. */
export function hashTokenSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url');
}

/** Constant-time equality of two strings of any length. */
export function safeEqual(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}
