/**
 * Another registry this one mirrors (a pull-through cache's upstream), as the cache sees it:
 * manifests and blobs by repository and reference, 404 as `undefined`, and every other failure as
 * `UpstreamError`. Authentication (the upstream's token dance) is the adapter's business.
 */

/** A manifest's descriptor as the upstream gave it. */
export interface UpstreamDescriptor {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
}

/** A manifest with its exact bytes. `digest` is the upstream's claim; the cache checks it. */
export interface UpstreamManifest extends UpstreamDescriptor {
  readonly body: Uint8Array;
}

/** A blob's bytes as they arrive, with the length the upstream declared. */
export interface UpstreamBlob {
  readonly size?: number;
  readonly body: AsyncIterable<Uint8Array>;
  /** Stops reading (the rest is not wanted). */
  cancel(): Promise<void>;
}

export interface UpstreamRegistry {
  /** The upstream's origin, for messages and events. */
  readonly origin: string;
  /** A manifest's descriptor without its body: a conditional check that costs the upstream no pull. */
  headManifest(repository: string, reference: string): Promise<UpstreamDescriptor | undefined>;
  /** A manifest's bytes, refused past `maxSize`. */
  getManifest(repository: string, reference: string, maxSize: number): Promise<UpstreamManifest | undefined>;
  /** A blob's size. */
  headBlob(repository: string, digest: string): Promise<{ readonly size: number } | undefined>;
  /** A blob's bytes, following the upstream's redirects (to its CDN or storage). */
  getBlob(repository: string, digest: string): Promise<UpstreamBlob | undefined>;
}

/** The upstream could not be asked or did not answer usefully (network, 5xx, 429, refused credentials). */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
  constructor(
    message: string,
    /** The upstream's status, when it answered. */
    readonly status?: number,
    /** Seconds the upstream asked us to wait (`Retry-After`), when it said. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}
