/**
 * User names of the accounts table: what the admin CLI creates, and so the only names a sign-in
 * can match.
 */

/** Longest user name; with its key prefix it stays far below DynamoDB's 2,048-byte partition key. */
export const MAX_USER_NAME_LENGTH = 128;

const USER_NAME = new RegExp(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,${MAX_USER_NAME_LENGTH - 1}}$`);

/**
 * True when an account may have this name: 1-128 letters, digits, `.`, `_`, `@` or `-`, starting
 * with a letter or digit. Sign-ins check it before any lookup, so a name that could not be a key
 * is wrong credentials rather than a store error.
 */
export function isValidUserName(name: string): boolean {
  return USER_NAME.test(name);
}

/** Robot token ids: 24 hex digits (96 random bits), part of the token's sort key. */
export const ROBOT_TOKEN_ID = /^[0-9a-f]{24}$/;
