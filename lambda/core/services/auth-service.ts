import { createHmac, randomBytes } from 'node:crypto';
import {
  grantFromRules,
  grantOf,
  intersect,
  readOnly,
  type AccessEntry,
  type AccessRule,
  type Grant,
} from '../auth/access';
import { signJwt, TokenRejected, verifyJwt } from '../auth/jwt';
import { hashTokenSecret, safeEqual, verifyPassword } from '../auth/passwords';
import { isValidUserName } from '../auth/user-names';
import { TooManyRequestsError, UnauthorizedError } from '../errors';
import type { AccountStore, TokenRecord, UserRecord } from '../ports/accounts';
import type { Clock } from '../ports/clock';
import type { TokenKeys } from '../ports/token-keys';

export type AuthMode = 'none' | 'basic' | 'token';

export interface AuthSettings {
  readonly mode: AuthMode;
  /** The `service` of challenges and the `aud` of access tokens. */
  readonly service: string;
  /** The `iss` of tokens. */
  readonly issuer: string;
  readonly tokenTtlSeconds: number;
  readonly refreshTtlSeconds: number;
  /** Repository patterns anyone may pull from without signing in. */
  readonly anonymousPull: readonly string[];
  /** Failed password sign-ins per user name within the window before further attempts get 429. */
  readonly maxFailures: number;
  readonly failureWindowSeconds: number;
}

/** Who is asking, with what they may do. */
export interface Principal {
  /** Undefined for anonymous callers. */
  readonly name?: string;
  readonly rules: readonly AccessRule[];
  /** The robot token signed in with, so a refresh token dies with it. */
  readonly tokenId?: string;
}

export interface IssuedToken {
  readonly token: string;
  readonly expiresIn: number;
  readonly issuedAt: string;
  readonly refreshToken?: string;
  readonly access: readonly AccessEntry[];
}

const ROBOT_TOKEN = /^rt_([0-9a-f]{24})_([A-Za-z0-9_-]{43})$/;
const WRONG_PASSWORD = 'authentication required: user name or password is wrong';
const WRONG_TOKEN = 'authentication required: user name or token is wrong, revoked or expired';
/** How long a Basic sign-in is remembered: a removed user or token stops working within this. */
const SIGN_IN_CACHE_MS = 60_000;
/**
 * How long a verified password spares the next sign-ins of its user the scrypt (about 0.1 s of
 * CPU): docker asks the token service once per scope, so one pull of several repositories signs in
 * many times. Kept short, and dropped at once when the user's password hash changes.
 */
export const VERIFIED_PASSWORD_MS = 5 * 60_000;
const VERIFIED_PASSWORD_ENTRIES = 1000;
/** Seconds of clock skew tolerated between the token service and the registry. */
const CLOCK_TOLERANCE = 30;

/**
 * Signing in and tokens: checks credentials (passwords with scrypt, robot tokens by hash, failures
 * counted per user name), issues access tokens carrying the intersection of what was asked and what
 * the user may do, and verifies them without any call to a store.
 */
export class AuthService {
  private readonly recent = new Map<string, { principal: Principal; until: number }>();
  /**
   * Passwords verified lately, by an HMAC of user name and password under a key of this process
   * (nothing in memory can be tried offline against a password list), with the hash they matched.
   */
  private readonly verified = new Map<string, { passwordHash: string; until: number }>();
  private readonly verifiedKey = randomBytes(32);

  constructor(
    private readonly store: AccountStore | undefined,
    private readonly keys: TokenKeys | undefined,
    private readonly clock: Clock,
    readonly settings: AuthSettings,
  ) {}

  /** The rules of a caller who did not sign in. */
  anonymous(): Principal {
    return { rules: this.settings.anonymousPull.map((pattern) => ({ pattern, actions: ['pull'] })) };
  }

  /**
   * Checks a user name and a password or robot token. Throws UnauthorizedError for anything wrong
   * (without saying what) and TooManyRequestsError while a user name is locked out.
   */
  async signIn(username: string, secret: string, options: { cache?: boolean } = {}): Promise<Principal> {
    if (!options.cache) return this.checkCredentials(username, secret);
    // Basic auth sends credentials with every request: remember successes briefly, by a hash of
    // the credentials (never the password itself), so a push does not pay scrypt per request.
    const key = hashTokenSecret(`${username}\u0000${secret}`);
    const now = this.clock.now();
    const hit = this.recent.get(key);
    if (hit && hit.until > now) return hit.principal;
    const principal = await this.checkCredentials(username, secret);
    if (this.recent.size >= 1000) this.recent.clear();
    this.recent.set(key, { principal, until: now + SIGN_IN_CACHE_MS });
    return principal;
  }

  private async checkCredentials(username: string, secret: string): Promise<Principal> {
    const robot = ROBOT_TOKEN.exec(secret);
    if (!isValidUserName(username)) return this.refuseImpossibleName(secret, robot !== null);
    // Robot tokens carry 256 random bits: they are not guessable, so they are exempt from lockout
    // (and a CI system keeps working while someone hammers its user's password).
    if (robot) return this.signInWithToken(username, robot[1] as string, robot[2] as string);
    const key = `user:${username}`;
    const now = this.clock.now();
    const failures = await this.accounts().failures(key, now);
    if (failures.count >= this.settings.maxFailures) throw this.lockedOut(failures.windowEnds, now);
    const user = await this.accounts().getUser(username);
    // Lockout is checked first, and the user is read fresh: a cached check never outlives a
    // password change or a removed user, and never opens a locked-out name.
    const remembered = createHmac('sha256', this.verifiedKey).update(`${username}\u0000${secret}`).digest('base64url');
    const hit = this.verified.get(remembered);
    if (user?.passwordHash && hit && hit.until > now && hit.passwordHash === user.passwordHash) {
      return this.principal(user);
    }
    if (!(await verifyPassword(secret, user?.passwordHash)) || !user) {
      const counted = await this.accounts().recordFailure(key, now, this.settings.failureWindowSeconds);
      if (counted.count >= this.settings.maxFailures) throw this.lockedOut(counted.windowEnds, now);
      throw new UnauthorizedError(WRONG_PASSWORD);
    }
    if (user.passwordHash) {
      if (this.verified.size >= VERIFIED_PASSWORD_ENTRIES) this.verified.clear();
      this.verified.set(remembered, { passwordHash: user.passwordHash, until: now + VERIFIED_PASSWORD_MS });
    }
    return this.principal(user);
  }

  /**
   * A user name no account can have (empty, over-long, outside the admin CLI's grammar) is wrong
   * credentials like any other, never a lookup: past DynamoDB's 2,048-byte partition key it would
   * fail as a 500. A password still costs a decoy scrypt, as for an unknown user, so timing tells
   * nothing beyond the published grammar; nothing is counted, as no account could be locked.
   */
  private async refuseImpossibleName(secret: string, robot: boolean): Promise<never> {
    if (robot) throw new UnauthorizedError(WRONG_TOKEN);
    await verifyPassword(secret, undefined);
    throw new UnauthorizedError(WRONG_PASSWORD);
  }

  /** Issues an access token for the requested scopes (and a refresh token when `offline`). */
  async issue(principal: Principal, requested: readonly AccessEntry[], offline: boolean): Promise<IssuedToken> {
    const keys = this.signingKeys();
    const now = this.clock.now();
    const iat = Math.floor(now / 1000);
    const access = intersect(requested, principal.rules);
    const sub = principal.name ?? '';
    const { issuer: iss, service: aud, tokenTtlSeconds } = this.settings;
    const token = await signJwt(keys, { iss, sub, aud, iat, nbf: iat, exp: iat + tokenTtlSeconds, access });
    const refreshToken =
      offline && principal.name !== undefined
        ? await signJwt(keys, {
            iss,
            sub,
            aud: this.refreshAudience(),
            iat,
            nbf: iat,
            exp: iat + this.settings.refreshTtlSeconds,
            ...(principal.tokenId ? { tid: principal.tokenId } : {}),
          })
        : undefined;
    return {
      token,
      expiresIn: tokenTtlSeconds,
      issuedAt: new Date(iat * 1000).toISOString(),
      ...(refreshToken ? { refreshToken } : {}),
      access,
    };
  }

  /**
   * The principal behind a refresh token, re-read from the store: a removed user, a changed
   * password or a revoked robot token ends it.
   */
  async refresh(refreshToken: string): Promise<Principal> {
    const claims = await this.verify(refreshToken, this.refreshAudience());
    const user = await this.accounts().getUser(claims.sub);
    if (!user || claims.iat * 1000 < Math.floor(user.credentialsChangedAt / 1000) * 1000) {
      throw new UnauthorizedError('refresh token is no longer valid: sign in again');
    }
    if (typeof claims.tid === 'string') {
      const token = await this.accounts().getToken(user.name, claims.tid);
      if (!token || this.expired(token)) throw new UnauthorizedError('refresh token is no longer valid: sign in again');
      return this.principal(user, token);
    }
    return this.principal(user);
  }

  /** What a bearer token allows, together with what anyone may do. */
  async grantOfToken(token: string): Promise<{ subject: string; grant: Grant }> {
    const claims = await this.verify(token, this.settings.service);
    const access = Array.isArray(claims.access) ? (claims.access as AccessEntry[]) : [];
    const fromToken = grantOf(access.filter(isAccessEntry));
    const anonymous = grantFromRules(this.anonymous().rules);
    return {
      subject: claims.sub,
      grant: {
        allows: (entry, action) => fromToken.allows(entry, action) || anonymous.allows(entry, action),
        mentions: (entry) => fromToken.mentions!(entry),
      },
    };
  }

  /** What a signed-in principal may do, with what anyone may do (Basic auth). */
  grantOfPrincipal(principal: Principal): Grant {
    return grantFromRules([...principal.rules, ...this.anonymous().rules]);
  }

  private async verify(token: string, audience: string) {
    try {
      return await verifyJwt(this.signingKeys(), token, {
        issuer: this.settings.issuer,
        audience,
        now: this.clock.now(),
        clockToleranceSeconds: CLOCK_TOLERANCE,
      });
    } catch (err) {
      if (err instanceof TokenRejected) throw new UnauthorizedError(`authentication required: ${err.message}`);
      throw err;
    }
  }

  private async signInWithToken(username: string, id: string, secret: string): Promise<Principal> {
    const [user, token] = await Promise.all([
      this.accounts().getUser(username),
      this.accounts().getToken(username, id),
    ]);
    const valid = safeEqual(hashTokenSecret(secret), token?.secretHash ?? '') && token !== undefined;
    if (!valid || !user || this.expired(token)) {
      throw new UnauthorizedError(WRONG_TOKEN);
    }
    return this.principal(user, token);
  }

  private principal(user: UserRecord, token?: TokenRecord): Principal {
    const rules = user.readOnly || token?.readOnly ? readOnly(user.rules) : user.rules;
    return { name: user.name, rules, ...(token ? { tokenId: token.id } : {}) };
  }

  private expired(token: TokenRecord): boolean {
    return token.expiresAt !== undefined && token.expiresAt <= this.clock.now();
  }

  private lockedOut(windowEnds: number, now: number): TooManyRequestsError {
    const seconds = Math.max(1, Math.ceil((windowEnds - now) / 1000));
    return new TooManyRequestsError(`too many failed sign-ins for this user; try again in ${seconds} s`, seconds);
  }

  private refreshAudience(): string {
    return `${this.settings.service}#refresh`;
  }

  private accounts(): AccountStore {
    if (!this.store) throw new Error('the accounts table is not configured');
    return this.store;
  }

  private signingKeys(): TokenKeys {
    if (!this.keys) throw new Error('token keys are not configured');
    return this.keys;
  }
}

function isAccessEntry(value: unknown): value is AccessEntry {
  const e = value as AccessEntry;
  return typeof e?.type === 'string' && typeof e.name === 'string' && Array.isArray(e.actions);
}

/** A new robot token: the secret shown once, and the record that keeps only its hash. */
export function newRobotToken(
  user: string,
  now: number,
  options: { description?: string; readOnly?: boolean; expiresAt?: number } = {},
): { secret: string; record: TokenRecord } {
  const id = randomBytes(12).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return {
    secret: `rt_${id}_${secret}`,
    record: {
      id,
      user,
      secretHash: hashTokenSecret(secret),
      description: options.description ?? '',
      readOnly: options.readOnly ?? false,
      createdAt: now,
      ...(options.expiresAt !== undefined ? { expiresAt: options.expiresAt } : {}),
    },
  };
}
