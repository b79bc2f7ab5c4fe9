import { createSHA256, type IHasher } from 'hash-wasm';

/**
 * SHA-256 whose state can be saved after one request and resumed in another, so an upload is hashed
 * as its bytes pass and never re-read. hash-wasm's saved state starts with a hash of its WASM binary,
 * which is why the package version is pinned exactly: a state saved by one version cannot be loaded by
 * another.
 */
export class ResumableSha256 {
  private constructor(private readonly hasher: IHasher) {}

  /** A fresh hash, or one resumed from `state` (as returned by `save`). */
  static async create(state?: Uint8Array): Promise<ResumableSha256> {
    const hasher = await createSHA256();
    if (state && state.length > 0) hasher.load(state);
    else hasher.init();
    return new ResumableSha256(hasher);
  }

  update(bytes: Uint8Array): this {
    if (bytes.length > 0) this.hasher.update(bytes);
    return this;
  }

  save(): Uint8Array {
    return this.hasher.save();
  }

  /** The digest of everything so far, `sha256:<hex>`. Leaves the saved state untouched. */
  digest(): string {
    const state = this.hasher.save();
    const hex = this.hasher.digest('hex');
    this.hasher.load(state);
    return `sha256:${hex}`;
  }
}
