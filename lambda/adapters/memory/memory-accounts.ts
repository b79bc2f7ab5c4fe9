import type { AccountStore, FailureCount, TokenRecord, UserRecord } from '../../core/ports/accounts';

/** In-memory accounts: a test double for the DynamoDB store, held to the same contract. */
export class MemoryAccounts implements AccountStore {
  private readonly users = new Map<string, UserRecord>();
  private readonly tokens = new Map<string, TokenRecord>();
  private readonly counters = new Map<string, FailureCount>();

  async getUser(name: string): Promise<UserRecord | undefined> {
    return this.users.get(name);
  }

  async putUser(user: UserRecord): Promise<void> {
    this.users.set(user.name, user);
  }

  async deleteUser(name: string): Promise<boolean> {
    for (const t of await this.listTokens(name)) this.tokens.delete(`${name}/${t.id}`);
    return this.users.delete(name);
  }

  async listUsers(): Promise<UserRecord[]> {
    return [...this.users.values()].sort((x, y) => x.name.localeCompare(y.name));
  }

  async getToken(user: string, id: string): Promise<TokenRecord | undefined> {
    return this.tokens.get(`${user}/${id}`);
  }

  async putToken(token: TokenRecord): Promise<void> {
    this.tokens.set(`${token.user}/${token.id}`, token);
  }

  async deleteToken(user: string, id: string): Promise<boolean> {
    return this.tokens.delete(`${user}/${id}`);
  }

  async listTokens(user: string): Promise<TokenRecord[]> {
    return [...this.tokens.values()].filter((t) => t.user === user);
  }

  async failures(key: string, now: number): Promise<FailureCount> {
    const c = this.counters.get(key);
    return c && c.windowEnds > now ? c : { count: 0, windowEnds: now };
  }

  async recordFailure(key: string, now: number, windowSeconds: number): Promise<FailureCount> {
    const c = await this.failures(key, now);
    const next = c.count === 0 ? { count: 1, windowEnds: now + windowSeconds * 1000 } : { ...c, count: c.count + 1 };
    this.counters.set(key, next);
    return next;
  }
}
