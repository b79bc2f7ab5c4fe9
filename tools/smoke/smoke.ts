import { randomBytes } from 'node:crypto';
import { isValidName } from '../../lambda/core/names';
import { deleteAll, headBlobs, headManifest, pullByDigest, pullByTag, rangeRead, referrers, tagPages } from './checks';
import { check, expectStatus, MiB, ok, skipped, type SmokeContext, type StepOutcome } from './context';
import { parseChallenge, RegistryHttp, SmokeFailure, type Challenge, type Exchange } from './http';
import { cancelUpload, pushImage, uploadChunked, uploadDirect, uploadStreamed } from './uploads';

/**
 * The smoke test of a deployed (or local) registry: the plain HTTP API, step by step, from sign-in
 * through the three upload paths, pulls through the blob store's redirect, referrers and tag pages
 * to deleting everything again. It stops at the first failure and keeps the exchange that failed.
 */

export interface SmokeOptions {
  /** The registry's URL: `https://registry.example.com` (the stack's `RegistryUrl`), `http://localhost:5000`. */
  readonly url: string;
  /** Sign in as this user when the registry asks for credentials. */
  readonly user?: string;
  readonly password?: string;
  /**
   * Where to push. A fresh one is best: the tag list check reads every tag in it.
   * @default `smoke/<random suffix>`
   */
  readonly repository?: string;
  /**
   * Bytes of each large layer. It must exceed what one function request carries (≈ 4.5 MiB), so that
   * only the upload data path takes it in one request.
   * @default 10 MiB and a few KiB, so that chunks and parts end unevenly
   */
  readonly largeSize?: number;
}

export interface StepResult {
  readonly step: string;
  readonly status: 'ok' | 'skipped' | 'failed';
  readonly ms: number;
  /** What was seen, why it was skipped, or why it failed. */
  readonly detail?: string;
}

/** What a run found; `ok` is false after the first failure, which ends the run. */
export interface SmokeReport {
  readonly url: string;
  readonly repository: string;
  readonly ok: boolean;
  readonly steps: readonly StepResult[];
  readonly failure?: { readonly step: string; readonly message: string; readonly exchange?: Exchange };
  /** What the clean-up after a failure could not remove (`manifest sha256:…`). */
  readonly leftovers: readonly string[];
}

const DEFAULT_LARGE_SIZE = 10 * MiB + 12_345;

type Step = readonly [name: string, run: (ctx: SmokeContext) => Promise<StepOutcome>];

/** Runs every step in order against `options.url`, stopping at the first failure. */
export async function runSmoke(options: SmokeOptions): Promise<SmokeReport> {
  const repository = options.repository ?? `smoke/${randomBytes(4).toString('hex')}`;
  if (!isValidName(repository)) throw new Error(`"${repository}" is not a repository name`);
  const http = new RegistryHttp(options.url);
  const ctx: SmokeContext = {
    http,
    name: repository,
    largeSize: options.largeSize ?? DEFAULT_LARGE_SIZE,
    pushed: { large: [], tags: [], manifests: [], blobs: new Set(), uploads: new Set() },
  };
  let challenge: Challenge | undefined;
  const steps: Step[] = [
    [
      'GET /v2/',
      async () => {
        const result = await apiVersionCheck(http);
        challenge = result.challenge;
        return result.outcome;
      },
    ],
    ['login', () => login(http, challenge, options, repository)],
    ['push image', pushImage],
    ['large layer: streamed PATCH', uploadStreamed],
    ['large layer: chunked PATCHes', uploadChunked],
    ['large layer: direct upload', uploadDirect],
    ['blob HEAD', headBlobs],
    ['manifest HEAD', headManifest],
    ['pull by tag', pullByTag],
    ['pull by digest', pullByDigest],
    ['range read', rangeRead],
    ['referrers', referrers],
    ['tag list pages', tagPages],
    ['delete', deleteAll],
  ];
  const results: StepResult[] = [];
  for (const [step, run] of steps) {
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    try {
      const outcome = await run(ctx);
      results.push({ step, ms: ms(), ...outcome });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      results.push({ step, status: 'failed', ms: ms(), detail: message });
      const exchange = err instanceof SmokeFailure ? err.exchange : undefined;
      const leftovers = await cleanUp(ctx);
      return {
        url: options.url,
        repository,
        ok: false,
        steps: results,
        failure: { step, message, ...(exchange ? { exchange } : {}) },
        leftovers,
      };
    }
  }
  return { url: options.url, repository, ok: true, steps: results, leftovers: [] };
}

/** `GET /v2/` without credentials: 200 when the registry is open, else 401 with a usable challenge. */
async function apiVersionCheck(http: RegistryHttp): Promise<{ outcome: StepOutcome; challenge?: Challenge }> {
  const res = expectStatus(await http.request('GET', '/v2/'), [200, 401], 'GET /v2/');
  if (res.status === 200) return { outcome: ok('200: access control is off') };
  const header = res.headers.get('www-authenticate');
  const challenge = parseChallenge(header);
  check(challenge !== undefined, `the 401 has no Bearer or Basic challenge (WWW-Authenticate: ${header})`, res);
  if (challenge!.scheme === 'basic') return { outcome: ok('401, Basic'), challenge: challenge! };
  const { realm, service } = challenge as Extract<Challenge, { scheme: 'bearer' }>;
  check(service !== undefined, 'the Bearer challenge names no service', res);
  return { outcome: ok(`401, Bearer realm=${realm} service=${service}`), challenge: challenge! };
}

/** Signs in as the challenge asks: a token for the repository, or Basic; then `/v2/` must answer 200. */
async function login(
  http: RegistryHttp,
  challenge: Challenge | undefined,
  options: SmokeOptions,
  repository: string,
): Promise<StepOutcome> {
  if (!challenge) return skipped('the registry is open');
  if (options.user === undefined || options.password === undefined) {
    throw new SmokeFailure(`the registry asks for ${challenge.scheme} credentials: give a user and its password`);
  }
  const scope = `repository:${repository}:pull,push,delete`;
  await http.signIn(challenge, { user: options.user, password: options.password }, [scope]);
  expectStatus(await http.request('GET', '/v2/'), 200, 'GET /v2/ signed in');
  return ok(challenge.scheme === 'bearer' ? `token for ${options.user} (${scope})` : `Basic as ${options.user}`);
}

/**
 * After a failure: cancels open uploads and deletes what was pushed, best effort (the registry may
 * be the thing that is broken). Returns what it could not delete.
 */
async function cleanUp(ctx: SmokeContext): Promise<string[]> {
  const { http, name, pushed } = ctx;
  const left: string[] = [];
  for (const upload of pushed.uploads) await cancelUpload(ctx, upload);
  const remove = async (what: string, path: string) => {
    const res = await http.request('DELETE', path).catch(() => undefined);
    if (res?.status !== 202 && res?.status !== 404) left.push(what);
  };
  for (const digest of pushed.manifests) await remove(`manifest ${digest}`, `/v2/${name}/manifests/${digest}`);
  for (const digest of pushed.blobs) await remove(`blob ${digest}`, `/v2/${name}/blobs/${digest}`);
  return left;
}
