import { DIRECT_UPLOAD_OPTIONS } from '../../lambda/handlers/compose';
import { MemoryBlobStore } from '../../lambda/adapters/memory/memory-blob-store';
import { MemoryMetadata } from '../../lambda/adapters/memory/memory-metadata';
import type { Clock } from '../../lambda/core/ports/clock';
import { FileTokenKeys } from '../../lambda/adapters/keyfile/file-token-keys';
import { MemoryAccounts } from '../../lambda/adapters/memory/memory-accounts';
import type { RegistryPolicy } from '../../lambda/core/policy';
import type { TokenKeys } from '../../lambda/core/ports/token-keys';
import { AuthService, type AuthSettings } from '../../lambda/core/services/auth-service';
import { BlobService } from '../../lambda/core/services/blob-service';
import { DiscoveryService } from '../../lambda/core/services/discovery-service';
import { ManifestService } from '../../lambda/core/services/manifest-service';
import { UploadService, type UploadServiceOptions } from '../../lambda/core/services/upload-service';
import { requestEvents } from '../../lambda/http/event-scope';
import type { Services } from '../../lambda/http/services';

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(public ms = 1_800_000_000_000) {}
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
}

export const TEST_AUTH: AuthSettings = {
  mode: 'none',
  service: 'registry',
  issuer: 'registry-token-service',
  tokenTtlSeconds: 300,
  refreshTtlSeconds: 86_400,
  anonymousPull: [],
  maxFailures: 5,
  failureWindowSeconds: 900,
};

/** Token keys for tests, in a fresh temporary directory. */
export async function testTokenKeys(): Promise<TokenKeys> {
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  return FileTokenKeys.open(await mkdtemp(join(tmpdir(), 'token-keys-')));
}

/** Upload options with parts of a few bytes (16 by default), so part handling is exercised cheaply. */
export function tinyUploadOptions(minPartSize = 16, partSize = minPartSize * 2): UploadServiceOptions {
  return {
    minPartSize,
    partSize,
    concurrency: 2,
    maxParts: 10_000,
    sessionTtlSeconds: 3600,
    maxRereadSize: 1024,
    ...DIRECT_UPLOAD_OPTIONS,
  };
}

/** Services over the memory doubles, with a tiny part size so chunk folding is exercised cheaply. */
export function memoryRegistry(
  options: {
    minPartSize?: number;
    partSize?: number;
    inlineLimit?: number;
    maxManifestSize?: number;
    auth?: Partial<AuthSettings>;
    keys?: TokenKeys;
    policy?: RegistryPolicy;
  } = {},
) {
  const minPartSize = options.minPartSize ?? 16;
  const store = new MemoryBlobStore(minPartSize);
  const metadata = new MemoryMetadata();
  const clock = new ManualClock();
  const accounts = new MemoryAccounts();
  const services: Services = {
    blobs: new BlobService(store, metadata, 900, undefined, requestEvents),
    uploads: new UploadService(
      store,
      metadata,
      metadata,
      clock,
      tinyUploadOptions(minPartSize, options.partSize),
      requestEvents,
    ),
    manifests: new ManifestService(store, metadata, metadata, {
      events: requestEvents,
      maxManifestSize: options.maxManifestSize ?? 4 * 1024 * 1024,
      inlineLimit: options.inlineLimit ?? 256 * 1024,
      ...(options.policy ? { policy: async () => options.policy! } : {}),
    }),
    discovery: new DiscoveryService(metadata),
    maxNameDepth: 4,
    auth: new AuthService(accounts, options.keys, clock, { ...TEST_AUTH, ...options.auth }),
  };
  return { store, metadata, clock, accounts, services };
}
