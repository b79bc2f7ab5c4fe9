import type { EventPublisher } from '../core/ports/events';
import type { HealthCheck } from '../core/ports/health';
import type { ModeService } from '../core/services/mode-service';
import type { AuthService } from '../core/services/auth-service';
import type { BlobService } from '../core/services/blob-service';
import type { DiscoveryService } from '../core/services/discovery-service';
import type { ManifestService } from '../core/services/manifest-service';
import type { UploadService } from '../core/services/upload-service';

/** What the endpoints need, wired by a handler (or by tests over the memory adapters). */
export interface Services {
  readonly blobs: BlobService;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly discovery: DiscoveryService;
  /** Deepest repository name the deployed routes carry. */
  readonly maxNameDepth: number;
  /** Signing in, tokens and access checks. */
  readonly auth: AuthService;
  /** The registry's public origin, when requests do not carry it (behind CloudFront). */
  readonly publicUrl?: string;
  /** The path clients reach the registry under (`/reg`): `Location`, `Link` and the realm carry it. */
  readonly pathPrefix?: string;
  /** Where registry events go (docs/events.md); absent when events are off. */
  readonly events?: EventPublisher;
  /** Publish `Manifest Pulled` on manifest GETs too: one event per pull, which costs money at scale. */
  readonly publishPulls?: boolean;
  /** What `GET /health` checks; without it, /health answers 200 from the code alone. */
  readonly health?: HealthCheck;
  /**
   * Maintenance (read-only) mode: refuses writes, and `/health` reports it. Absent where no mode is
   * configured (functions that serve neither writes nor `/health`).
   */
  readonly mode?: ModeService;
  /** The upstreams this registry mirrors (pull-through cache rules), as `GET /` lists them. */
  readonly mirrors?: readonly Mirror[];
}

/** A pull-through cache rule as the metadata document shows it: no credentials. */
export interface Mirror {
  /** Our repositories it serves: `hub/*`, or `*` for the root of the name space. */
  readonly repositories: string;
  readonly upstream: string;
  /** Upstream repository patterns it may fetch; absent: any. */
  readonly allow?: readonly string[];
}

/**
 * What each endpoint group uses of the services: a function composes only these (lambda/handlers),
 * so it bundles and loads nothing its routes never call.
 */
export type AccessServices = Pick<Services, 'auth' | 'maxNameDepth' | 'publicUrl' | 'pathPrefix'>;
/** `/v2/`, `/health` and every path no other group serves. */
export type BaseServices = AccessServices & Pick<Services, 'health' | 'mode' | 'mirrors'>;
/** Blob reads and deletes, mounts and uploads. */
export type BlobsServices = AccessServices & Pick<Services, 'blobs' | 'uploads' | 'events' | 'publishPulls' | 'mode'>;
/** Manifest reads, pushes and deletes. */
export type ManifestsServices = AccessServices & Pick<Services, 'manifests' | 'events' | 'publishPulls' | 'mode'>;
/** Tags lists, the catalog and referrers. */
export type DiscoveryServices = AccessServices & Pick<Services, 'discovery'>;
/** The token service. */
export type TokenServices = Pick<Services, 'auth'>;
