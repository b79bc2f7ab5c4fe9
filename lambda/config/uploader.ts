/**
 * The uploader task's stream limit, shared by the stack (which sets it from the task's memory) and
 * the uploader (lambda/uploader/admission.ts). No imports, so `lib/` may use it.
 *
 * Each streamed request holds up to its parts in flight in memory (4 × 16 MiB,
 * lambda/handlers/wiring/limits.ts) plus buffers: about 80 MiB.
 */
export const MEMORY_PER_STREAM_MIB = 80;

/** The limit for a task of `memoryMiB`: what 60 % of its memory holds, at least one. */
export function maxStreamsFor(memoryMiB: number): number {
  return Math.max(1, Math.floor((memoryMiB * 0.6) / MEMORY_PER_STREAM_MIB));
}
