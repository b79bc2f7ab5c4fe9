import { AsyncLocalStorage } from 'node:async_hooks';
import type { RegistryEventFacts, RegistryEventType } from '../core/events';
import type { EventRecorder } from '../core/ports/events';
import type { Services } from './services';

/** An event still without its request context. */
export type EventDraft = readonly [RegistryEventType, RegistryEventFacts];

interface Scope {
  /** Events are published for this request at all (a publisher is configured). */
  readonly on: boolean;
  /** `Manifest Pulled` and `Blob Pulled` are published too. */
  readonly pulls: boolean;
  readonly drafts: EventDraft[];
}

const PULL_EVENTS: ReadonlySet<RegistryEventType> = new Set(['Manifest Pulled', 'Blob Pulled']);

const scopes = new AsyncLocalStorage<Scope>();

/**
 * The services' event recorder: what they record goes to the current request's scope (opened by
 * `withEventScope` around each endpoint), and is published by `emit` with the request's context
 * once the operation succeeded. Outside a request (the collector, the admin CLI) nothing is wanted
 * and nothing kept.
 */
export const requestEvents: EventRecorder = {
  wants(type) {
    const scope = scopes.getStore();
    return scope !== undefined && scope.on && (scope.pulls || !PULL_EVENTS.has(type));
  },
  record(type, facts) {
    if (this.wants(type)) scopes.getStore()?.drafts.push([type, facts]);
  },
};

/** Runs one request's work with a scope of its own for the events its services record. */
export function withEventScope<T>(
  services: Pick<Services, 'events' | 'publishPulls'>,
  fn: () => Promise<T>,
): Promise<T> {
  return scopes.run({ on: services.events !== undefined, pulls: services.publishPulls === true, drafts: [] }, fn);
}

/** The events recorded in this request's scope so far, taken out of it (each is published once). */
export function takeRecorded(): EventDraft[] {
  return scopes.getStore()?.drafts.splice(0) ?? [];
}
