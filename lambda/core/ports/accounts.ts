import type { AccessRule } from '../auth/access';

/** A person or a CI system that may sign in. */
export interface UserRecord {
  readonly name: string;
  /** `scrypt$…` from `hashPassword`; absent for robots, which sign in with tokens only. */
  readonly passwordHash?: string;
  readonly rules: readonly AccessRule[];
  /** Pull only, whatever the rules say. */
  readonly readOnly: boolean;
  /** Epoch ms of the last password change: refresh tokens issued before it stop working. */
  readonly credentialsChangedAt: number;
  readonly createdAt: number;
}

/** A robot/CI token, used as a password; only a hash of its secret is kept. */
export interface TokenRecord {
  readonly id: string;
  readonly user: string;
  readonly secretHash: string;
  readonly description: string;
  /** Pull only, even if the user may push. */
  readonly readOnly: boolean;
  readonly createdAt: number;
  /** Epoch ms; absent for tokens that never expire. */
  readonly expiresAt?: number;
}

/** Where users, tokens and failed sign-in counters live (DynamoDB deployed). */
export interface AccountStore {
  getUser(name: string): Promise<UserRecord | undefined>;
  /** Creates or replaces a user. */
  putUser(user: UserRecord): Promise<void>;
  /** Removes a user and every token of theirs; false when there was none. */
  deleteUser(name: string): Promise<boolean>;
  listUsers(): Promise<UserRecord[]>;
  getToken(user: string, id: string): Promise<TokenRecord | undefined>;
  putToken(token: TokenRecord): Promise<void>;
  deleteToken(user: string, id: string): Promise<boolean>;
  listTokens(user: string): Promise<TokenRecord[]>;
  /** Failed sign-ins for a key in its current window (count 0 once the window has passed). */
  failures(key: string, now: number): Promise<FailureCount>;
  /** Counts one failure; a window starts at the first failure and lasts `windowSeconds`. */
  recordFailure(key: string, now: number, windowSeconds: number): Promise<FailureCount>;
}

/** Failed sign-ins counted for one key, and when (epoch ms) their window closes. */
export interface FailureCount {
  readonly count: number;
  readonly windowEnds: number;
}
