import { NameInvalidError } from './errors';

/**
 * Repository names and tags.
 * @see https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#pulling-manifests
 */

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_GRAMMAR = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Longest repository name accepted, as in the reference registry. */
export const MAX_NAME_LENGTH = 255;

/**
 * Validates a repository name against the OCI grammar and length limit.
 * @throws NameInvalidError with a message saying which rule failed.
 */
export function assertValidName(name: string): string {
  if (name.length === 0) throw new NameInvalidError('repository name is empty');
  if (name.length > MAX_NAME_LENGTH) {
    throw new NameInvalidError(`repository name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (!NAME_GRAMMAR.test(name)) {
    throw new NameInvalidError(
      `invalid repository name "${name}": components are lowercase letters and digits separated by ".", "_", "__" or "-", joined by "/"`,
    );
  }
  return name;
}

/** True when the name is a valid repository name (what tokens and rules may ever name). */
export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_GRAMMAR.test(name);
}

/** True when the string is a valid tag: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`. */
export function isValidTag(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}
