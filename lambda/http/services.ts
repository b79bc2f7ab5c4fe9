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
}
