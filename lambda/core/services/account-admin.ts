import { REPOSITORY_ACTIONS, type AccessRule, type RepositoryAction } from '../auth/access';
import { hashPassword } from '../auth/passwords';
import { isValidUserName, MAX_USER_NAME_LENGTH, ROBOT_TOKEN_ID } from '../auth/user-names';
import type { AccountStore, TokenRecord, UserRecord } from '../ports/accounts';
import type { Clock } from '../ports/clock';
import { newRobotToken } from './auth-service';

/** A mistake in an admin command, reported as is. */
export class AdminError extends Error {
  override readonly name = 'AdminError';
}

/** Managing users, their rules and robot tokens: what the admin CLI does, against any store. */
export class AccountAdmin {
  constructor(
    private readonly accounts: AccountStore,
    private readonly clock: Clock,
  ) {}

  /** Adds a user, or replaces an existing user's password and read-only flag (rules are kept). */
  async addUser(name: string, options: { password?: string; readOnly?: boolean }): Promise<UserRecord> {
    if (!isValidUserName(name)) {
      throw new AdminError(
        `user names are 1-${MAX_USER_NAME_LENGTH} letters, digits, ".", "_", "@" or "-", got "${name}"`,
      );
    }
    if (options.password !== undefined && options.password.length < 8) {
      throw new AdminError('passwords must have at least 8 characters');
    }
    const now = this.clock.now();
    const existing = await this.accounts.getUser(name);
    const user: UserRecord = {
      name,
      ...(options.password !== undefined ? { passwordHash: await hashPassword(options.password) } : {}),
      rules: existing?.rules ?? [],
      readOnly: options.readOnly ?? existing?.readOnly ?? false,
      credentialsChangedAt: now,
      createdAt: existing?.createdAt ?? now,
    };
    await this.accounts.putUser(user);
    return user;
  }

  async removeUser(name: string): Promise<void> {
    // A name no account can have is not looked up: it may not even fit in a key.
    if (!isValidUserName(name) || !(await this.accounts.deleteUser(name))) throw new AdminError(`no user "${name}"`);
  }

  listUsers(): Promise<UserRecord[]> {
    return this.accounts.listUsers();
  }

  /**
   * Sets the actions a user has on a repository pattern (replacing that pattern's earlier rule);
   * no actions removes the rule.
   */
  async grant(name: string, pattern: string, actions: readonly string[]): Promise<UserRecord> {
    const user = await this.requireUser(name);
    if (!/^[a-z0-9*][a-z0-9._/*-]*$/.test(pattern)) {
      throw new AdminError(`"${pattern}" is not a repository pattern (lowercase name characters and *)`);
    }
    const unknown = actions.filter((a) => !(REPOSITORY_ACTIONS as readonly string[]).includes(a));
    if (unknown.length > 0) throw new AdminError(`unknown actions ${unknown.join(', ')}; use pull, push, delete`);
    const rules: AccessRule[] = user.rules.filter((r) => r.pattern !== pattern);
    if (actions.length > 0) rules.push({ pattern, actions: [...new Set(actions)] as RepositoryAction[] });
    const updated = { ...user, rules };
    await this.accounts.putUser(updated);
    return updated;
  }

  /** Creates a robot token; the returned secret is shown once and never stored. */
  async createToken(
    name: string,
    options: { description?: string; readOnly?: boolean; expiresInDays?: number } = {},
  ): Promise<{ secret: string; record: TokenRecord }> {
    await this.requireUser(name);
    const now = this.clock.now();
    const token = newRobotToken(name, now, {
      ...(options.description !== undefined ? { description: options.description } : {}),
      ...(options.readOnly !== undefined ? { readOnly: options.readOnly } : {}),
      ...(options.expiresInDays !== undefined ? { expiresAt: now + options.expiresInDays * 86_400_000 } : {}),
    });
    await this.accounts.putToken(token.record);
    return token;
  }

  async revokeToken(name: string, id: string): Promise<void> {
    const known = isValidUserName(name) && ROBOT_TOKEN_ID.test(id) && (await this.accounts.deleteToken(name, id));
    if (!known) throw new AdminError(`user "${name}" has no token ${id}`);
  }

  listTokens(name: string): Promise<TokenRecord[]> {
    return isValidUserName(name) ? this.accounts.listTokens(name) : Promise.resolve([]);
  }

  private async requireUser(name: string): Promise<UserRecord> {
    const user = isValidUserName(name) ? await this.accounts.getUser(name) : undefined;
    if (!user) throw new AdminError(`no user "${name}"; add it first with: user add ${name}`);
    return user;
  }
}
