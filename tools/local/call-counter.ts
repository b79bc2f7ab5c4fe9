import { AsyncLocalStorage } from 'node:async_hooks';

/** Calls per `service.Operation` made while one request was served. */
export type CallCounts = Map<string, number>;

const current = new AsyncLocalStorage<CallCounts>();

/** Counts a call against the request being served (see `observeCalls`). */
export function recordCall(operation: string): void {
  const counts = current.getStore();
  if (counts) counts.set(operation, (counts.get(operation) ?? 0) + 1);
}

/** Runs `fn` with a fresh call count and returns both. */
export async function withCallCount<T>(fn: () => Promise<T>): Promise<{ result: T; calls: CallCounts }> {
  const calls: CallCounts = new Map();
  const result = await current.run(calls, fn);
  return { result, calls };
}
