import type { RegistryEvent } from '../../core/events';
import type { EventPublisher } from '../../core/ports/events';
import type { ModeStore, RegistryMode } from '../../core/ports/mode';
import type { TokenKeys } from '../../core/ports/token-keys';

/**
 * Ports whose adapter, and the SDK client behind it, is created by the first call instead of when
 * the services are composed: a function that rarely reads the mode, the token keys or the
 * event bus pays for creating their client (a few ms each) only when it does, one that never does,
 * never.
 *
 * The adapters are imported statically all the same. A dynamic `import()` keeps a module's code from
 * running at load, but a bundle still holds it, and whole: esbuild cannot tree-shake what it must
 * initialize on demand, which made the blobs bundle 150 KB larger (913 KB against 757 KB with
 * ES-module resolution) for no measurable load time, as running the tree-shaken client modules
 * costs next to nothing next to parsing them.
 */

/** What `create` returns, created on the first call and shared by later ones. */
export function onFirstUse<T>(create: () => T): () => T {
  let created: { readonly value: T } | undefined;
  return () => {
    created ??= { value: create() };
    return created.value;
  };
}

/**
 * Token keys named by their key ids up front, their adapter created for the first signature or
 * public key it must give. A `kid` no configured key has is answered without creating it.
 */
export class TokenKeysOnFirstUse implements TokenKeys {
  private readonly kids: ReadonlySet<string>;
  private readonly keys: () => TokenKeys;

  /** `kids`: the configured keys' ids, signing key first (as the created keys name them). */
  constructor(kids: readonly string[], create: () => TokenKeys) {
    if (kids.length === 0) throw new Error('token keys need at least one key');
    this.kids = new Set(kids);
    this.keys = onFirstUse(create);
  }

  signingKeyId(): string {
    return this.kids.values().next().value as string;
  }

  sign(kid: string, signingInput: Uint8Array): Promise<Uint8Array> {
    return this.keys().sign(kid, signingInput);
  }

  async publicKey(kid: string): Promise<Uint8Array | undefined> {
    if (!this.kids.has(kid)) return undefined;
    return this.keys().publicKey(kid);
  }
}

/** A mode store created for the first read, which the mode service makes on the first write or /health. */
export class ModeStoreOnFirstUse implements ModeStore {
  private readonly store: () => ModeStore;

  constructor(create: () => ModeStore) {
    this.store = onFirstUse(create);
  }

  read(): Promise<RegistryMode> {
    return this.store().read();
  }

  write(mode: RegistryMode): Promise<void> {
    return this.store().write(mode);
  }
}

/** An event publisher created with the first events to publish. */
export class EventPublisherOnFirstUse implements EventPublisher {
  private readonly publisher: () => EventPublisher;

  constructor(create: () => EventPublisher) {
    this.publisher = onFirstUse(create);
  }

  publish(events: readonly RegistryEvent[]): Promise<void> {
    return this.publisher().publish(events);
  }
}
