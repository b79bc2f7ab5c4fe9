/**
 * Registry event settings shared by the stack and the functions (`docs/events.md`). No imports, so
 * `lib/` may use it.
 */

/** The `source` of the registry's events unless configured otherwise. */
export const DEFAULT_EVENT_SOURCE = 'serverless-oci-registry';

/** Why a `source` would be refused by EventBridge or clash with AWS's own, or undefined when it is fine. */
export function eventSourceProblem(source: string): string | undefined {
  if (!/^[A-Za-z0-9._/-]{1,256}$/.test(source)) {
    return `an event source is 1-256 characters of [A-Za-z0-9._/-], got "${source}"`;
  }
  if (/^aws\./i.test(source))
    return `event sources starting with "aws." are reserved for AWS services, got "${source}"`;
  return undefined;
}

/** Why an event bus name or ARN would be refused by PutEvents, or undefined when it is fine. */
export function eventBusProblem(bus: string): string | undefined {
  const name = /^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus\/(.+)$/.exec(bus)?.[1] ?? bus;
  if (bus.startsWith('arn:') && name === bus) return `"${bus}" is not an event bus ARN`;
  if (!/^[A-Za-z0-9._/-]{1,256}$/.test(name)) return `"${bus}" is not an event bus name or ARN`;
  return undefined;
}
