import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { embeddedServersTest } from '../support/endpoint-strictness';
import { startTestRegistry, type TestRegistry } from '../support/local-registry';

const MiB = 1024 * 1024;

/** A layer of `mib` MiB, unique by its first bytes, generated as it is sent (the test holds 1 MiB). */
function layer(mib: number): { digest: string; body: () => Readable } {
  const block = randomBytes(MiB);
  const head = randomBytes(32);
  const hash = createHash('sha256');
  for (let i = 0; i < mib; i++) hash.update(i === 0 ? Buffer.concat([head, block.subarray(32)]) : block);
  const digest = `sha256:${hash.digest('hex')}`;
  return {
    digest,
    body: () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < mib; i++) yield i === 0 ? Buffer.concat([head, block.subarray(32)]) : block;
        })(),
      ),
  };
}

interface Outcome {
  readonly status: number;
  readonly attempts: number;
  readonly refusals: number;
}

/**
 * One layer pushed as docker and podman push it (POST, one streamed PATCH without a length, PUT
 * `?digest=`), retried as they retry: after a 429 (waiting its Retry-After, shortened here) or a
 * connection the registry closed.
 */
async function push(registry: TestRegistry, name: string, mib: number): Promise<Outcome> {
  const { digest, body } = layer(mib);
  let refusals = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      const start = await fetch(`${registry.url}/v2/${name}/blobs/uploads/`, { method: 'POST' });
      const location = new URL(start.headers.get('location') ?? '', registry.url);
      const patch = await fetch(location, {
        method: 'PATCH',
        body: body(),
        duplex: 'half',
        headers: { 'Content-Type': 'application/octet-stream' },
      } as RequestInit);
      if (patch.status === 429) {
        refusals++;
        expect(patch.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(((await patch.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('TOOMANYREQUESTS');
        if (attempt >= 8) return { status: 429, attempts: attempt, refusals };
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      expect(patch.status).toBe(202);
      const next = new URL(patch.headers.get('location') ?? '', registry.url);
      next.searchParams.set('digest', digest);
      const put = await fetch(next, { method: 'PUT' });
      return { status: put.status, attempts: attempt, refusals };
    } catch (err) {
      // The registry may close a refused request's connection while its body is still being sent.
      refusals++;
      if (attempt >= 8) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Three gigabytes through the S3 server: sized for the embedded one, not for a test endpoint. */
const sizedTest = embeddedServersTest('it streams 3 GiB, sized for the embedded S3 server');

describe('the uploader bounds the bodies it streams at once', () => {
  sizedTest(
    'thirty parallel 100 MiB streamed uploads through an uploader capped at 3: all land, never more than 3 stream',
    async () => {
      const registry = await startTestRegistry({ uploaderAdmission: { maxStreams: 3 } });
      try {
        const started = Date.now();
        const outcomes = await Promise.all(
          Array.from({ length: 30 }, (_, i) => push(registry, `admission/layer${i}`, 100)),
        );
        const seconds = (Date.now() - started) / 1000;
        process.stdout.write(
          `30 × 100 MiB streamed, cap 3: ${seconds.toFixed(1)} s, peak ${registry.uploaderAdmission?.peak} streams, ` +
            `${outcomes.reduce((n, o) => n + o.refusals, 0)} refusals retried\n`,
        );
        expect(outcomes.map((o) => o.status)).toEqual(Array(30).fill(201));
        expect(registry.uploaderAdmission?.peak).toBe(3);
        expect(registry.requests.filter((r) => r.status >= 500)).toEqual([]);
      } finally {
        await registry.stop();
      }
    },
    600_000,
  );

  sizedTest(
    'a body that waits longer than the wait is refused with 429 and Retry-After, and its retry lands',
    async () => {
      const registry = await startTestRegistry({ uploaderAdmission: { maxStreams: 1, maxWaitMs: 100 } });
      try {
        const outcomes = await Promise.all([0, 1, 2].map((i) => push(registry, `admission/busy${i}`, 24)));
        expect(outcomes.map((o) => o.status)).toEqual([201, 201, 201]);
        expect(outcomes.reduce((n, o) => n + o.refusals, 0)).toBeGreaterThan(0);
        expect(registry.requests.some((r) => r.status === 429)).toBe(true);
      } finally {
        await registry.stop();
      }
    },
    300_000,
  );
});
