import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureConformance } from '../../tools/local/tools';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { startTestStack, type TestStack, STACK_START_TIMEOUT_MS } from '../support/local-registry';

const run = promisify(execFile);

/** Parses the suite's summary block: `  Pass....: 749` lines. */
function summary(stdout: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const m of stdout.matchAll(/^ {2}(Disabled|Skip|Pass|FAIL|Error|Total)\.+: +(\d+)$/gm)) {
    counts[m[1] as string] = Number(m[2]);
  }
  return counts;
}

/**
 * The OCI conformance suite (distribution-spec, spec version 1.1: pull, push, blob and manifest
 * APIs, tags, referrers, deletes, sha512, range requests) against the synthesized stack: the
 * functions' bundles with the template's environment, routes and IAM policies, the Lambda payload
 * limit and timeouts enforced.
 */
describe.each<[string, boolean, boolean, string?]>([
  ['with the upload data path', true, false],
  ['with uploads through the functions only', false, false],
  ['with token auth on (OCI_USERNAME/OCI_PASSWORD)', true, true],
  // As behind a reverse proxy serving it under /reg: the suite's registry address carries the path.
  // Without auth: the suite's credential cache expects the API at /v2/ itself (its authCacheKey
  // fails on /reg/v2/), so the realm under a prefix is tested in the clients tier instead.
  ['under the path prefix /reg', true, false, '/reg'],
])('OCI conformance suite, %s', (_label, uploader, auth, pathPrefix) => {
  let registry: TestStack;
  const login = { OCI_USERNAME: 'conformance', OCI_PASSWORD: 'conformance-password' };
  beforeAll(async () => {
    registry = await startTestStack({
      uploader,
      ...(auth ? { auth: { mode: 'token' } } : {}),
      ...(pathPrefix ? { pathPrefix } : {}),
    });
    if (auth) {
      if (!registry.accounts) throw new Error('token mode has an accounts table');
      const admin = new AccountAdmin(registry.accounts, systemClock);
      await admin.addUser(login.OCI_USERNAME, { password: login.OCI_PASSWORD });
      await admin.grant(login.OCI_USERNAME, 'conformance/*', ['pull', 'push', 'delete']);
    }
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await registry?.stop();
  });

  test('passes with every v1.1 API and data set enabled', async () => {
    const binary = ensureConformance();
    const results = mkdtempSync(join(tmpdir(), 'oci-conformance-'));
    const env = {
      ...process.env,
      OCI_REGISTRY: `${registry.host}${pathPrefix ?? ''}`,
      OCI_TLS: 'disabled',
      OCI_REPO1: 'conformance/repo1',
      OCI_REPO2: 'conformance/repo2',
      OCI_VERSION: '1.1',
      OCI_RESULTS_DIR: results,
      ...(auth ? login : {}),
    };
    const { stdout } = await run(binary, [], { env, cwd: results, maxBuffer: 1 << 26 }).catch(
      (err: { stdout?: string; stderr?: string }) => {
        // A failing run exits 1: keep its output for the assertions below, which say what failed.
        return { stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
      },
    );
    const counts = summary(stdout);
    const failures = stdout.split('\n').filter((l) => /: (FAIL|Error)$/.test(l) || /^\s+- /.test(l));
    process.stdout.write(
      `\nOCI conformance (spec 1.1, synthesized stack, ${_label}): ${JSON.stringify(counts)}\nresults: ${results}\n${failures.slice(0, 80).join('\n')}\n`,
    );
    expect(stdout).toContain('OCI Conformance Result: Pass');
    expect(counts.FAIL).toBe(0);
    expect(counts.Error).toBe(0);
    expect(counts.Pass).toBeGreaterThan(700);
  }, 300_000);
});
