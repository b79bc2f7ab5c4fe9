import type { BlobStore } from '../../ports/blob-store';
import type { Clock } from '../../ports/clock';
import type { BlobIndex, BlobRecord, DirectVerifyingSession, UploadSessionStore } from '../../ports/metadata';
import type { PartWriterOptions } from './part-writer';

export interface UploadServiceOptions extends PartWriterOptions {
  /** How long an idle upload session lives, in seconds. */
  readonly sessionTtlSeconds: number;
  /** Largest chunked upload verified by reading it back (digests other than sha256). */
  readonly maxRereadSize: number;
  /** How long a presigned part URL of a direct session stays valid, in seconds. */
  readonly partUrlTtlSeconds: number;
  /**
   * How much verifying a direct session's bytes may do in one request, so a request always ends
   * well within the API's timeout; the client repeats the request until verification is done.
   */
  readonly verifyBudget: { readonly milliseconds: number; readonly bytes?: number };
}

/** What the upload modules share: the ports and the options. */
export interface UploadContext {
  readonly store: BlobStore;
  readonly blobs: BlobIndex;
  readonly sessions: UploadSessionStore;
  readonly clock: Clock;
  readonly options: UploadServiceOptions;
}

/** Most part URLs handed out in one request. */
export const MAX_PART_URLS = 100;

/** Where a direct session's client writes part `partNumber`. */
export interface PartUrl {
  readonly partNumber: number;
  readonly url: string;
}

/** What finishing a direct session came to: the blob, or how far verification got so far. */
export type DirectFinish =
  | { readonly done: true; readonly record: BlobRecord }
  | {
      readonly done: false;
      readonly session: DirectVerifyingSession;
      readonly verified: number;
      readonly total: number;
    };

/** An inclusive byte range from a `Content-Range` header. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}
