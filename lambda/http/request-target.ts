/** A request target split into its path and query, both exactly as the client sent them. */
export interface RequestTarget {
  /** Still percent-encoded, with any `.` and `..` segments left in place. */
  readonly rawPath: string;
  /** Without the `?`; empty when there is none. */
  readonly rawQueryString: string;
}

/**
 * Splits a Node request target (`req.url`) the way API Gateway fills `rawPath` and
 * `rawQueryString`. `new URL(...)` would resolve `..` and `%2e%2e` segments first, so that
 * `/v2/a/../b/…` acted on `b`; the registry must see the name as sent and refuse it.
 */
export function splitRequestTarget(target: string | undefined): RequestTarget {
  const value = target ?? '/';
  const query = value.indexOf('?');
  return query === -1
    ? { rawPath: value, rawQueryString: '' }
    : { rawPath: value.slice(0, query), rawQueryString: value.slice(query + 1) };
}
