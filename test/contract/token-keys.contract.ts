import { createPublicKey, randomBytes, verify, type KeyObject } from 'node:crypto';
import { jwtVerify } from 'jose';
import type { TokenKeys } from '../../lambda/core/ports/token-keys';

export interface TokenKeysSubject {
  readonly keys: TokenKeys;
  /** A second key the subject trusts but no longer signs with, when it can hold one (rotation). */
  readonly olderKid?: string;
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Signs a compact JWT the way core/auth/jwt.ts does: only the signature comes from the port. */
async function jwt(keys: TokenKeys, kid: string, payload: Record<string, unknown>): Promise<string> {
  const input = `${b64url({ alg: 'ES256', kid, typ: 'JWT' })}.${b64url(payload)}`;
  const signature = await keys.sign(kid, Buffer.from(input, 'ascii'));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

async function publicKeyObject(keys: TokenKeys, kid: string): Promise<KeyObject> {
  const spki = await keys.publicKey(kid);
  if (!spki) throw new Error(`no public key for ${kid}`);
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

/**
 * The behaviour every TokenKeys must have: ES256 signatures in JWS form over its keys' P-256
 * public keys (SPKI DER), and nothing for a kid it does not hold. `rotation` says whether the subject
 * holds an older key (`olderKid`); implementations with a single key skip those tests for that reason.
 */
export function tokenKeysContract(label: string, subject: () => TokenKeysSubject, rotation: boolean): void {
  describe(`TokenKeys contract: ${label}`, () => {
    let keys: TokenKeys;
    let olderKid: string | undefined;
    beforeAll(() => {
      ({ keys, olderKid } = subject());
    });

    test('signingKeyId is a non-empty string', () => {
      expect(typeof keys.signingKeyId()).toBe('string');
      expect(keys.signingKeyId().length).toBeGreaterThan(0);
    });

    test('sign returns a 64-byte r‖s signature that verifies with the public key, and only over its data', async () => {
      const data = randomBytes(300);
      const sig = await keys.sign(keys.signingKeyId(), data);
      expect(sig).toHaveLength(64);
      const key = await publicKeyObject(keys, keys.signingKeyId());
      expect(key.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      expect(verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
      const tampered = Buffer.from(data);
      tampered[0] = (tampered[0] as number) ^ 1;
      expect(verify('sha256', tampered, { key, dsaEncoding: 'ieee-p1363' }, sig)).toBe(false);
    });

    test('a JWT signed with the signing key verifies with jose', async () => {
      const kid = keys.signingKeyId();
      const token = await jwt(keys, kid, { sub: 'alice', n: 1 });
      const { payload, protectedHeader } = await jwtVerify(token, await publicKeyObject(keys, kid), {
        algorithms: ['ES256'],
      });
      expect(payload).toEqual({ sub: 'alice', n: 1 });
      expect(protectedHeader).toEqual({ alg: 'ES256', kid, typ: 'JWT' });
    });

    test('publicKey of a kid it does not hold is undefined', async () => {
      await expect(keys.publicKey('unknown-kid')).resolves.toBeUndefined();
      await expect(keys.publicKey('')).resolves.toBeUndefined();
    });

    if (!rotation) return;

    test('an older key is trusted but is not the one new tokens are signed with', async () => {
      const older = olderKid as string;
      expect(keys.signingKeyId()).not.toBe(older);
      const signing = await publicKeyObject(keys, keys.signingKeyId());
      const old = await publicKeyObject(keys, older);
      expect(old.equals(signing)).toBe(false);

      const oldToken = await jwt(keys, older, { sub: 'bob' });
      await expect(jwtVerify(oldToken, old, { algorithms: ['ES256'] })).resolves.toMatchObject({
        payload: { sub: 'bob' },
      });
      await expect(jwtVerify(oldToken, signing, { algorithms: ['ES256'] })).rejects.toThrow(
        'signature verification failed',
      );

      const newToken = await jwt(keys, keys.signingKeyId(), { sub: 'bob' });
      await expect(jwtVerify(newToken, signing, { algorithms: ['ES256'] })).resolves.toBeDefined();
      await expect(jwtVerify(newToken, old, { algorithms: ['ES256'] })).rejects.toThrow(
        'signature verification failed',
      );
    });
  });
}
