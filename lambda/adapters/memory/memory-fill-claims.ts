import type { FillClaims } from '../../core/services/pull-through';

/** Fill claims in memory: a test double of the metadata table's (adapters/dynamodb/dynamodb-fill-claims.ts). */
export class MemoryFillClaims implements FillClaims {
  readonly held = new Map<string, { readonly owner: string; readonly until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  async claim(digest: string, owner: string, seconds: number): Promise<boolean> {
    const current = this.held.get(digest);
    if (current && current.until > this.now()) return false;
    this.held.set(digest, { owner, until: this.now() + seconds * 1000 });
    return true;
  }

  async release(digest: string, owner: string): Promise<void> {
    if (this.held.get(digest)?.owner === owner) this.held.delete(digest);
  }
}
