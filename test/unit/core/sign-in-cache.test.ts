import { MemoryAccounts } from '../../../lambda/adapters/memory/memory-accounts';
import { AccountAdmin } from '../../../lambda/core/services/account-admin';
import { AuthService, VERIFIED_PASSWORD_MS } from '../../../lambda/core/services/auth-service';
import { ManualClock, TEST_AUTH } from '../../support/memory-registry';

/** CPU milliseconds `fn` takes in this process (scrypt's work is counted: it runs on the thread pool). */
async function cpuMs(fn: () => Promise<unknown>): Promise<number> {
  const before = process.cpuUsage();
  await fn().catch(() => undefined);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000;
}

describe('a verified password spares the next sign-ins the scrypt', () => {
  const clock = new ManualClock();
  const accounts = new MemoryAccounts();
  const admin = new AccountAdmin(accounts, clock);
  const auth = new AuthService(accounts, undefined, clock, { ...TEST_AUTH, mode: 'token' });
  beforeAll(async () => {
    await admin.addUser('alice', { password: 'the first password' });
    await admin.grant('alice', 'team/*', ['pull']);
  });

  test('a second sign-in within the window takes under 10 ms of CPU; the first pays scrypt', async () => {
    const first = await cpuMs(() => auth.signIn('alice', 'the first password'));
    const second = await cpuMs(() => auth.signIn('alice', 'the first password'));
    process.stdout.write(`sign-in CPU: first ${first.toFixed(1)} ms, second ${second.toFixed(1)} ms\n`);
    expect(first).toBeGreaterThan(30);
    expect(second).toBeLessThan(10);
    await expect(auth.signIn('alice', 'the first password')).resolves.toMatchObject({ name: 'alice' });
  });

  test('a wrong password is never taken from the cache, and still costs the scrypt', async () => {
    expect(await cpuMs(() => auth.signIn('alice', 'not the password'))).toBeGreaterThan(30);
    await expect(auth.signIn('alice', 'not the password')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  test('a new password ends the cached check at once', async () => {
    await auth.signIn('alice', 'the first password');
    await admin.removeUser('alice');
    await admin.addUser('alice', { password: 'the second password' });
    await expect(auth.signIn('alice', 'the first password')).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    await expect(auth.signIn('alice', 'the second password')).resolves.toMatchObject({ name: 'alice' });
  });

  test('the check is paid again after the window', async () => {
    await auth.signIn('alice', 'the second password');
    clock.advance(VERIFIED_PASSWORD_MS / 1000 + 1);
    expect(await cpuMs(() => auth.signIn('alice', 'the second password'))).toBeGreaterThan(30);
  });

  test('a locked-out name is refused even with a remembered password', async () => {
    await admin.addUser('bob', { password: 'bob password' });
    const locked = new AuthService(accounts, undefined, clock, { ...TEST_AUTH, mode: 'token', maxFailures: 2 });
    await locked.signIn('bob', 'bob password');
    for (let i = 0; i < 2; i++) await locked.signIn('bob', 'wrong').catch(() => undefined);
    await expect(locked.signIn('bob', 'bob password')).rejects.toMatchObject({ code: 'TOOMANYREQUESTS' });
  });
});
