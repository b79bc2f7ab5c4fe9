import { createPublicKey, randomUUID } from 'node:crypto';
import { errors, jwtVerify, type JWTPayload } from 'jose';
import type { TokenKeys } from '../ports/token-keys';

/**
 * ES256 JSON Web Tokens. Signing only assembles `header.payload` and asks the key holder (KMS, or
 * the local key file) for the signature; verification is jose's, which checks the algorithm, the
 * signature and every time and audience claim.
 */
export interface TokenClaims {
  readonly iss: string;
  readonly sub: string;
  readonly aud: string;
  readonly iat: number;
  readonly nbf: number;
  readonly exp: number;
  readonly jti: string;
  readonly [claim: string]: unknown;
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** KMS signs raw messages of at most 4096 bytes; every token stays within that, locally too. */
export const MAX_SIGNING_INPUT = 4096;

/** The claims asked for do not fit in one token (too many or too long scopes). */
export class TokenTooLargeError extends Error {
  override readonly name = 'TokenTooLargeError';
}

/** Signs claims with the current signing key. */
export async function signJwt(keys: TokenKeys, claims: Omit<TokenClaims, 'jti'>): Promise<string> {
  const kid = keys.signingKeyId();
  const input = `${encode({ typ: 'JWT', alg: 'ES256', kid })}.${encode({ ...claims, jti: randomUUID() })}`;
  if (input.length > MAX_SIGNING_INPUT) {
    throw new TokenTooLargeError(
      `the token asked for would be ${input.length} bytes before its signature (limit ${MAX_SIGNING_INPUT}); ask for fewer scopes per request`,
    );
  }
  const signature = await keys.sign(kid, Buffer.from(input, 'ascii'));
  return `${input}.${Buffer.from(signature).toString('base64url')}`;
}

/** Why a token was refused, for the `error_description` of a challenge and the logs. */
export class TokenRejected extends Error {
  override readonly name = 'TokenRejected';
}

export interface VerifyOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Epoch ms. */
  readonly now: number;
  readonly clockToleranceSeconds: number;
}

/**
 * Verifies a compact JWT against the trusted keys: signature, issuer, audience, `nbf`, `exp`, and an
 * `iat` not later than now, each within the clock tolerance. Throws TokenRejected with the reason.
 */
export async function verifyJwt(keys: TokenKeys, token: string, options: VerifyOptions): Promise<TokenClaims> {
  try {
    const { payload } = await jwtVerify(
      token,
      async (header) => {
        const spki = header.kid === undefined ? undefined : await keys.publicKey(header.kid);
        if (!spki) throw new TokenRejected('token is signed by a key this registry does not trust');
        return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
      },
      {
        algorithms: ['ES256'],
        issuer: options.issuer,
        audience: options.audience,
        currentDate: new Date(options.now),
        clockTolerance: options.clockToleranceSeconds,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti'],
      },
    );
    // jose checks `iat` only against a maximum age. A token dated in the future came from a clock
    // out of step or was minted to look fresh for longer: the skew allowed for nbf and exp is all.
    if ((payload.iat as number) > options.now / 1000 + options.clockToleranceSeconds) {
      throw new TokenRejected('token is issued in the future');
    }
    return payload as JWTPayload & TokenClaims;
  } catch (err) {
    if (err instanceof TokenRejected) throw err;
    if (err instanceof errors.JWTExpired) throw new TokenRejected('token has expired');
    if (err instanceof errors.JOSEError) throw new TokenRejected(`token is invalid: ${err.message}`);
    throw err;
  }
}
