import { API_RETRY, type RetrySettings } from '../../lambda/adapters/retry-policy';
import { dynamodbError } from '../support/fault-proxy';
import { answerOf, printTable, registryCall, startRig as startRigWith, type Rig, type Row } from '../support/fault-rig';
import {
  FAULTS,
  OCI_MANIFEST,
  OPERATIONS,
  complete,
  imageFor,
  pullImage,
  pushBlob,
  pushImage,
  startUpload,
  StepFailed,
  type Backend,
} from '../support/fault-scenarios';
import { sha256 } from '../support/http-client';
import { describeState, halfWritten, readStoredState, staleSessions } from '../support/stored-state';

/**
 * Fault injection: local mode in one process, its SDK clients talking to DynamoDB Local and versitygw
 * through a proxy that resets, stalls, throttles, fails or hangs up on request. Every operation of a
 * push and a pull runs under every fault; the suite prints what each client got and what was left
 * stored, and holds the registry to: never a 500, Retry-After on every 503 and 429, nothing
 * half-written visible, and the same push working once the fault is gone.
 *
 * The clients time out after 1 s (the suite's delay fault holds requests 3 s) within a 2.5 s budget,
 * so a faulted call costs at most about 2.5 s; the deployed settings are longer (retry-policy.ts).
 */
const SUITE_RETRY: RetrySettings = {
  maxAttempts: 3,
  connectTimeoutMs: 1000,
  requestTimeoutMs: 1000,
  idleTimeoutMs: 2000,
  budgetMs: 2500,
};

const skip = process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1';
const suite = skip ? describe.skip : describe;
if (skip) process.stdout.write('faults.test.ts skips: it puts its proxy in front of the embedded servers only\n');

const startRig = (retry: RetrySettings = SUITE_RETRY) => startRigWith(retry);

suite('S3 and DynamoDB faults: every operation, every fault', () => {
  let rig: Rig;
  const rows: Row[] = [];
  let seq = 0;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    printTable(rows);
    await rig?.stop();
  });

  describe.each(FAULTS.map((f) => [f.name, f] as const))('%s', (_label, fault) => {
    test.each(OPERATIONS.map((o) => [o.name, o] as const))('%s', async (_op, operation) => {
      const image = imageFor(`faults/case-${++seq}`, operation.large);
      const proxy = rig.proxies[fault.backend];
      const prepared = await operation.prepare(rig.client, image);

      proxy.arm(fault.fault);
      let answer;
      try {
        answer = await answerOf(await operation.run(rig.client, image, prepared));
      } finally {
        proxy.clear();
      }
      // A request held by the delay fault may still be on its way to being dropped.
      await new Promise((r) => setTimeout(r, 50));
      const state = await readStoredState(rig.root, rig.storage.bucket, rig.storage.table, image.name);
      const broken = halfWritten(state);
      const outcome = operation.outcome(state, image);

      const again = await answerOf(await operation.again(rig.client, image, prepared));
      let repush = 'push+pull ok';
      try {
        await pushImage(rig.client, image);
        await pullImage(rig.client, image);
      } catch (err) {
        repush = `push+pull FAILED: ${(err as Error).message.slice(0, 80)}`;
      }
      const ra = answer.retryAfter ? ` Retry-After ${answer.retryAfter}` : '';
      rows.push({
        fault: fault.name,
        operation: operation.name,
        got: `${answer.status} ${answer.code || (answer.status >= 400 && operation.read ? '(HEAD: no body)' : '')}${ra}`.trim(),
        stored: `${outcome ?? 'IN BETWEEN'}: ${describeState(state)}${broken.length ? ` BROKEN ${broken.join('; ')}` : ''}`,
        after: `again ${again.status}${again.code ? ` ${again.code}` : ''}, ${repush}`,
      });

      expect(answer.status).not.toBe(500);
      expect([operation.success, 503, 429]).toContain(answer.status);
      if (answer.status === 503 || answer.status === 429) {
        // A HEAD answer has no body to carry the code.
        if (operation.name !== 'blob HEAD') {
          expect(answer.code).toBe(answer.status === 503 ? 'UNAVAILABLE' : 'TOOMANYREQUESTS');
        }
        expect(Number(answer.retryAfter)).toBeGreaterThan(0);
      }
      // A fault may only cost the operation, never leave something a pull trips over.
      expect(broken).toEqual([]);
      expect(staleSessions(state)).toBe(0);
      expect(outcome).toBeDefined();
      if (answer.status === operation.success && !operation.read) expect(outcome).toBe('new');
      expect(operation.againOk).toContain(again.status);
      expect(repush).toBe('push+pull ok');
      // The fault was really in the way of this operation, unless it never needs that server.
      if (proxy.faulted === 0) expect(answer.status).toBe(operation.success);
    });
  });
});

/**
 * One fault at a time, at every request a push and pull make to each server: the SDK's retries must
 * absorb it, so the push and the pull succeed as if nothing happened. A hang-up after the server
 * acted is the hard case: the retry then meets its own earlier write.
 */
suite('a single transient fault at any step of a push is absorbed by the retries', () => {
  let rig: Rig;
  const steps: Record<Backend, number> = { s3: 0, dynamodb: 0 };
  let seq = 0;
  beforeAll(async () => {
    rig = await startRig();
    // Count the calls one push and pull make to each server.
    for (const backend of ['s3', 'dynamodb'] as const) {
      rig.proxies[backend].arm({ kind: 'delay', ms: 0 }, { match: (req) => registryCall(req) });
    }
    const image = imageFor('transient/count');
    await pushImage(rig.client, image);
    await pullImage(rig.client, image);
    steps.s3 = rig.proxies.s3.faulted;
    steps.dynamodb = rig.proxies.dynamodb.faulted;
    process.stdout.write(`a push and pull: ${steps.dynamodb} DynamoDB calls, ${steps.s3} S3 calls\n`);
    rig.proxies.s3.clear();
    rig.proxies.dynamodb.clear();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  const cases = FAULTS.filter((f) => f.fault.kind !== 'delay');
  test.each(cases.map((f) => [f.name, f] as const))('%s once, at each step', async (_label, fault) => {
    const failures: string[] = [];
    const proxy = rig.proxies[fault.backend];
    for (let step = 1; step <= steps[fault.backend]; step++) {
      const image = imageFor(`transient/case-${++seq}`);
      let n = 0;
      proxy.arm(fault.fault, { times: 1, match: (req) => registryCall(req) && ++n === step });
      try {
        await pushImage(rig.client, image);
        await pullImage(rig.client, image);
      } catch (err) {
        failures.push(`${fault.name} at request ${step}: ${(err as Error).message.slice(0, 160)}`);
      } finally {
        proxy.clear();
      }
      const state = await readStoredState(rig.root, rig.storage.bucket, rig.storage.table, image.name);
      expect(halfWritten(state)).toEqual([]);
      expect(staleSessions(state)).toBe(0);
    }
    expect(steps[fault.backend]).toBeGreaterThan(3);
    expect(failures).toEqual([]);
  });
});

/**
 * A store that goes down in the middle of a push and stays down: from the k-th call on, every call
 * to it fails, for every k. The push moves tag v1 from image A to image B, so it covers blob upload
 * completion, manifest put and a tag move. Whatever step it stops at, v1 must show A or B, never
 * something in between, and the same push must succeed once the store is back.
 */
suite('a store that goes down mid-push: the old state or the new, and the push works after', () => {
  let rig: Rig;
  const steps: Record<Backend, number> = { s3: 0, dynamodb: 0 };
  let seq = 0;
  beforeAll(async () => {
    rig = await startRig();
    const a = imageFor('midway/count');
    await pushImage(rig.client, a);
    for (const backend of ['s3', 'dynamodb'] as const) {
      rig.proxies[backend].arm({ kind: 'delay', ms: 0 }, { match: (req) => registryCall(req) });
    }
    await pushImage(rig.client, { ...imageFor('midway/count'), tag: a.tag });
    steps.s3 = rig.proxies.s3.faulted;
    steps.dynamodb = rig.proxies.dynamodb.faulted;
    rig.proxies.s3.clear();
    rig.proxies.dynamodb.clear();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  // Upload sessions left unfinishable, reported rather than failed: see the known defect below.
  const stale: string[] = [];
  afterAll(() => {
    if (stale.length) process.stdout.write(`sessions left unfinishable (stale): ${stale.join('; ')}\n`);
  });
  const kinds = FAULTS.filter((f) => f.fault.kind === 'hangup' || f.fault.kind === 'reset');
  test.each(kinds.map((f) => [f.name, f] as const))('%s from each call on', async (_label, fault) => {
    const proxy = rig.proxies[fault.backend];
    const problems: string[] = [];
    for (let step = 1; step <= steps[fault.backend]; step++) {
      const name = `midway/case-${++seq}`;
      const a = imageFor(name);
      const b = { ...imageFor(name), tag: a.tag };
      await pushImage(rig.client, a);
      let n = 0;
      proxy.arm(fault.fault, { match: (req) => registryCall(req) && ++n >= step });
      let failed: StepFailed | undefined;
      try {
        await pushImage(rig.client, b);
      } catch (err) {
        if (!(err instanceof StepFailed)) throw err;
        failed = err;
      } finally {
        proxy.clear();
      }
      if (failed && !(failed.status === 503 && Number(failed.retryAfter) > 0)) {
        problems.push(`call ${step}: ${failed.message.slice(0, 120)}`);
      }
      const state = await readStoredState(rig.root, rig.storage.bucket, rig.storage.table, name);
      const v1 = state.tags.get(a.tag);
      if (v1 !== a.digest && v1 !== b.digest) problems.push(`call ${step}: v1 → ${v1 ?? 'nothing'}`);
      if (!failed && v1 !== b.digest) problems.push(`call ${step}: pushed, but v1 → ${v1 ?? 'nothing'}`);
      problems.push(...halfWritten(state).map((p) => `call ${step}: ${p}`));
      if (staleSessions(state) > 0) stale.push(`${fault.name}, call ${step}`);
      await pushImage(rig.client, b);
      await pullImage(rig.client, b);
    }
    expect(problems).toEqual([]);
  });
});

suite('an upload PUT that fails after writing its object', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  // The session's staged chunks are deleted only once the session is closed, so a store failure
  // between writing the blob's object and recording it leaves a session the same PUT can finish.
  test('the same PUT finishes the upload once the store is back', async () => {
    const image = imageFor('known/put-after-object');
    const location = await startUpload(rig.client, image.name);
    const patch = await rig.client.request('PATCH', location, {
      body: image.layer,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(patch.status).toBe(202);
    const next = patch.headers.get('location') ?? location;
    // Recording the blob is the first PutItem the PUT makes, after its object is written.
    rig.proxies.dynamodb.arm(
      { kind: 'reset' },
      { match: (req) => registryCall(req) && req.headers['x-amz-target'] === 'DynamoDB_20120810.PutItem' },
    );
    let first;
    try {
      first = await answerOf(await rig.client.request('PUT', complete(next, sha256(image.layer))));
    } finally {
      rig.proxies.dynamodb.clear();
    }
    expect(first).toMatchObject({ status: 503, code: 'UNAVAILABLE' });
    const state = await readStoredState(rig.root, rig.storage.bucket, rig.storage.table, image.name);
    expect(halfWritten(state)).toEqual([]);
    expect(staleSessions(state)).toBe(0);
    expect((await rig.client.request('PUT', complete(next, sha256(image.layer)))).status).toBe(201);
  });
});

suite('outages with the deployed settings and the other throttling answers', () => {
  let rig: Rig;
  let seq = 0;
  beforeAll(async () => {
    rig = await startRig(API_RETRY);
  });
  afterAll(async () => {
    await rig?.stop();
  });

  // Without timeouts a stalled store held the request until API Gateway cut it off at 30 s with
  // its own bare 503 (no OCI error, no Retry-After).
  test.each(['dynamodb', 's3'] as const)(
    'a %s that stops answering: 503 UNAVAILABLE with Retry-After within 10 s, and the push works after',
    async (backend) => {
      const image = imageFor(`deployed/case-${++seq}`, true);
      await pushBlob(rig.client, image.name, image.config);
      await pushBlob(rig.client, image.name, image.layer);
      rig.proxies[backend].arm({ kind: 'delay', ms: 60_000 });
      const started = Date.now();
      let answer;
      try {
        answer = await answerOf(
          await rig.client.request('PUT', `/v2/${image.name}/manifests/${image.tag}`, {
            body: image.manifest,
            headers: { 'Content-Type': OCI_MANIFEST },
          }),
        );
      } finally {
        rig.proxies[backend].clear();
      }
      const elapsed = Date.now() - started;
      expect(answer).toEqual({ status: 503, code: 'UNAVAILABLE', retryAfter: '5' });
      expect(elapsed).toBeLessThan(10_000);
      await pushImage(rig.client, image);
      await pullImage(rig.client, image);
    },
    30_000,
  );

  test.each([
    [
      'ProvisionedThroughputExceededException',
      'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
    ],
    ['RequestLimitExceeded', 'com.amazonaws.dynamodb.v20120810#RequestLimitExceeded'],
  ])(
    'DynamoDB %s: 503 UNAVAILABLE with Retry-After 1',
    async (_name, type) => {
      const image = imageFor(`deployed/case-${++seq}`);
      await pushImage(rig.client, image);
      rig.proxies.dynamodb.arm(dynamodbError(400, type, 'throttled'));
      let answer;
      try {
        answer = await answerOf(await rig.client.request('GET', `/v2/${image.name}/tags/list`));
      } finally {
        rig.proxies.dynamodb.clear();
      }
      expect(answer).toEqual({ status: 503, code: 'UNAVAILABLE', retryAfter: '1' });
    },
    30_000,
  );
});
