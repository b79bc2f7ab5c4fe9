import fc from 'fast-check';
import { systemClock } from '../../lambda/core/ports/clock';
import { AccountAdmin } from '../../lambda/core/services/account-admin';
import { fuzzCase, type World } from '../support/fuzz/requests';
import { FuzzRunner, formatHistogram, type Credentials, type RunResult } from '../support/fuzz/runner';
import { FUZZ_GRANTS, TOKEN_REPOS, fixtureState, openRepos, seed } from '../support/fuzz/world';
import {
  STACK_START_TIMEOUT_MS,
  startTestRegistry,
  startTestStack,
  type TestRegistry,
  type TestStack,
} from '../support/local-registry';
import type { StorageView } from '../support/uploads';

/**
 * Property-based fuzzing of every endpoint with generated requests (names, digests, references,
 * query parameters, headers, bodies of every shape), in open mode and with token auth, through one
 * process and through the synthesized stack. For every answer: no 5xx; a status the endpoint may
 * answer; every 4xx an OCI error body with a code the spec (or the registry's documented extensions)
 * names for it, HEAD by status alone; a refused write leaves the table and the bucket as they were;
 * an accepted manifest push names the digest of the bytes sent; and the seeded repositories read the
 * same at the end. Generators: test/support/fuzz/.
 *
 * The seed is fixed so that CI replays the same requests; FUZZ_SEED=<n> runs another sequence.
 */
const SEED = Number(process.env.FUZZ_SEED ?? 20_240_611);
const RUNS = { open: 1400, token: 700, stack: 300 };
const PASSWORD = 'fuzzer password';

const results: { slice: string; result: RunResult }[] = [];

afterAll(() => {
  const total = results.reduce((n, r) => n + r.result.requests, 0);
  const histogram = new Map<string, number>();
  for (const { result } of results)
    for (const [k, v] of result.histogram) histogram.set(k, (histogram.get(k) ?? 0) + v);
  const slices = results.map(
    (r) => `${r.slice}: ${r.result.requests} in ${(r.result.milliseconds / 1000).toFixed(1)} s`,
  );
  process.stdout.write(
    `\nfuzz seed ${SEED} (FUZZ_SEED=${SEED} replays it): ${total} requests (${slices.join(', ')})\n` +
      `status and OCI code histogram:\n${formatHistogram(histogram)}\n`,
  );
});

/** Runs one slice: seeds its world, generates its cases from the seed, sends them, checks the fixtures. */
async function fuzz(
  slice: string,
  url: string,
  world: World,
  storage: StorageView,
  runs: number,
  seedOffset: number,
  credentials?: Credentials,
): Promise<RunResult> {
  const authorization = credentials ? `Bearer ${credentials.admin}` : undefined;
  const before = await fixtureState(url, world, authorization);
  const cases = fc.sample(fuzzCase(world), { seed: SEED + seedOffset, numRuns: runs });
  const runner = new FuzzRunner(url, world, storage, credentials);
  const result = await runner.run(cases);
  if (process.env.FUZZ_VERBOSE) {
    const lines = [...runner.outcomes].sort(([a], [b]) => a.localeCompare(b));
    process.stdout.write(
      `${lines.map(([l, s]) => `${l}: ${[...s].map(([k, v]) => `${k}×${v}`).join(' ')}`).join('\n')}\n`,
    );
  }
  results.push({ slice, result });
  // One example per kind of problem (digits left out), with how often it came up.
  const kinds = new Map<string, { count: number; example: string }>();
  for (const f of result.findings) {
    const kind = `${f.status} ${f.problems.map((p) => p.replace(/[0-9a-f]{8,}|\d+/g, '#')).join(' | ')}`;
    const seen = kinds.get(kind);
    if (seen) seen.count++;
    else
      kinds.set(kind, {
        count: 1,
        example: `#${f.index} ${f.label}\n    ${f.request}\n    → ${f.status} ${f.body}\n    ${f.problems.join('\n    ')}`,
      });
  }
  const shown = [...kinds.values()].map((k) => `${k.count}× ${k.example}`);
  expect({ findings: result.findings.length, shown }).toEqual({ findings: 0, shown: [] });
  expect(await fixtureState(url, world, authorization)).toEqual(before);
  return result;
}

describe('fuzz: open mode, one process, uploads through the functions', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({ uploader: false });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  test(`${RUNS.open} generated requests: no 5xx, fitting codes, refused writes change nothing`, async () => {
    const world = await seed(
      registry.url,
      'open',
      openRepos(registry.config.maxNameDepth),
      registry.config.maxNameDepth,
    );
    const result = await fuzz('open', registry.url, world, registry, RUNS.open, 0);
    expect(result.requests).toBeGreaterThanOrEqual(RUNS.open);
  }, 150_000);
});

describe('fuzz: token auth, one process, uploads through the upload data path', () => {
  let registry: TestRegistry;
  beforeAll(async () => {
    registry = await startTestRegistry({
      uploader: true,
      // Tokens fetched at setup last the whole run; the lockout is exercised on a user of its own.
      auth: { mode: 'token', anonymousPull: ['fz/pub/*'], maxFailures: 5, tokenTtlSeconds: 3600 },
    });
  });
  afterAll(async () => {
    await registry?.stop();
  });

  async function token(
    user: string | undefined,
    scopes: string[],
    offline = false,
  ): Promise<{ token: string; refresh_token?: string }> {
    const query = new URLSearchParams({ service: 'registry' });
    for (const s of scopes) query.append('scope', s);
    if (offline) query.set('offline_token', 'true');
    const res = await fetch(`${registry.url}/token?${query.toString()}`, {
      headers: user ? { Authorization: `Basic ${Buffer.from(`${user}:${PASSWORD}`).toString('base64')}` } : {},
    });
    if (res.status !== 200) throw new Error(`token for ${user}: ${res.status} ${await res.text()}`);
    return (await res.json()) as { token: string; refresh_token?: string };
  }

  test(`${RUNS.token} generated requests with a user whose grants cover some repositories`, async () => {
    const admin = new AccountAdmin(registry.accounts, systemClock);
    for (const user of ['admin', 'fuzzer', 'lockme']) await admin.addUser(user, { password: PASSWORD });
    await admin.grant('admin', '*', ['pull', 'push', 'delete']);
    for (const g of FUZZ_GRANTS) await admin.grant('fuzzer', g.pattern, g.actions);
    const all = [...TOKEN_REPOS.map((r) => `repository:${r.name}:pull,push,delete`), 'registry:catalog:*'];
    const user = await token('fuzzer', all, true);
    const credentials: Credentials = {
      user: user.token,
      refresh: user.refresh_token as string,
      narrow: (await token('fuzzer', ['repository:fz/mine/a:pull,push,delete'])).token,
      admin: (await token('admin', all)).token,
      anonymous: (
        await token(
          undefined,
          TOKEN_REPOS.map((r) => `repository:${r.name}:pull`),
        )
      ).token,
    };
    const world = await seed(
      registry.url,
      'token',
      TOKEN_REPOS,
      registry.config.maxNameDepth,
      `Bearer ${credentials.admin}`,
    );
    const result = await fuzz('token', registry.url, world, registry, RUNS.token, 1, credentials);
    expect(result.requests).toBeGreaterThanOrEqual(RUNS.token);
  }, 150_000);
});

describe('fuzz: open mode, the synthesized stack (API Gateway routes, one process per function)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack();
  }, STACK_START_TIMEOUT_MS);
  afterAll(async () => {
    await stack?.stop();
  });

  test(`${RUNS.stack} generated requests through the stack's gateway`, async () => {
    const depth = Number(
      stack.model.functions.find((f) => f.environment.REGISTRY_MAX_NAME_DEPTH)?.environment.REGISTRY_MAX_NAME_DEPTH ??
        8,
    );
    const world = await seed(stack.url, 'open', openRepos(depth), depth);
    const result = await fuzz('stack', stack.url, world, stack, RUNS.stack, 2);
    expect(result.requests).toBeGreaterThanOrEqual(RUNS.stack);
  }, 150_000);
});
