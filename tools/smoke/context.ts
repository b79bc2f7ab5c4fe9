import { randomBytes } from 'node:crypto';
import { digestOf } from '../../lambda/core/bytes';
import { SmokeFailure, type RegistryHttp, type Reply } from './http';

/** What the smoke test's steps share: the client, the repository, and what was pushed so far. */
export interface SmokeContext {
  readonly http: RegistryHttp;
  readonly name: string;
  /** Bytes of each large layer: more than one function request carries. */
  readonly largeSize: number;
  readonly pushed: Pushed;
}

/** A blob the test pushed, with its bytes to compare downloads against. */
export interface PushedBlob {
  readonly digest: string;
  readonly bytes: Uint8Array;
  /** What it is, for messages: `the image config`, `the chunked layer`. */
  readonly what: string;
}

export interface PushedImage {
  readonly tag: string;
  readonly digest: string;
  readonly manifest: Uint8Array;
  readonly config: PushedBlob;
  readonly layer: PushedBlob;
}

/** Everything the run created, so that the end (or a failure) removes it. */
export interface Pushed {
  image?: PushedImage;
  /** Large layers, one per upload path that took one. */
  readonly large: PushedBlob[];
  /** The artifact that refers to the image, and its empty config blob. */
  artifact?: { readonly digest: string; readonly manifest: Uint8Array; readonly artifactType: string };
  /** Tags pushed, all on the image. */
  readonly tags: string[];
  /** Manifest digests to delete, referrers first. */
  readonly manifests: string[];
  /** Blob digests to delete once the manifests are gone. */
  readonly blobs: Set<string>;
  /** Upload URLs still open (a path that was skipped or failed half-way). */
  readonly uploads: Set<string>;
}

/** What a step reports: done (with a note), or skipped with the reason. */
export type StepOutcome = { readonly status: 'ok' | 'skipped'; readonly detail?: string };

export const ok = (detail?: string): StepOutcome => ({ status: 'ok', ...(detail ? { detail } : {}) });
export const skipped = (reason: string): StepOutcome => ({ status: 'skipped', detail: reason });

export const MiB = 1024 * 1024;

/** Random bytes and their digest. */
export function randomBlob(size: number, what: string): PushedBlob {
  const bytes = new Uint8Array(randomBytes(size));
  return { bytes, digest: digestOf(bytes), what };
}

/** The code and message of an OCI error body, for failure messages (`DIGEST_INVALID: …`). */
export function errorOf(res: Reply): string | undefined {
  try {
    const body = JSON.parse(res.text()) as { errors?: { code?: string; message?: string }[] };
    const first = body.errors?.[0];
    return first?.code ? `${first.code}${first.message ? `: ${first.message}` : ''}` : undefined;
  } catch {
    return undefined;
  }
}

/** The OCI error code of an answer, if it has one. */
export function errorCode(res: Reply): string | undefined {
  return errorOf(res)?.split(':', 1)[0];
}

/** Fails unless the answer has one of `statuses`. */
export function expectStatus(res: Reply, statuses: number | readonly number[], what: string): Reply {
  const wanted = typeof statuses === 'number' ? [statuses] : statuses;
  if (!wanted.includes(res.status)) {
    const error = errorOf(res);
    throw new SmokeFailure(
      `${what}: expected ${wanted.join(' or ')}, got ${res.status}${error ? ` (${error})` : ''}`,
      res.exchange,
    );
  }
  return res;
}

/** Fails with the exchange unless `condition` holds. */
export function check(condition: boolean, message: string, res: Reply): void {
  if (!condition) throw new SmokeFailure(message, res.exchange);
}

/** The byte count as people read it: `10 MiB`, `1.5 KiB`. */
export function size(bytes: number): string {
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(1)} MiB`;
  return bytes >= 1024 ? `${+(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;
}
