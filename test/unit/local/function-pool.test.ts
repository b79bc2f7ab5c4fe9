import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FunctionPool } from '../../../tools/local/stack/function-pool';
import type { FunctionModel } from '../../../tools/local/stack/stack-model';

/** A function bundle of the test's own, in an asset directory as the assembly holds them. */
function bundle(source: string, overrides: Partial<FunctionModel> = {}): FunctionModel {
  const codeDir = mkdtempSync(join(tmpdir(), 'asset.'));
  writeFileSync(join(codeDir, 'index.js'), source);
  return {
    logicalId: 'TestFunction',
    name: 'test-function',
    arn: 'arn:aws:lambda:us-east-1:000000000000:function:test-function',
    handler: 'index.handler',
    timeoutSeconds: 2,
    memoryMb: 128,
    codeDir,
    environment: {},
    role: { name: 'r', arn: 'arn:aws:iam::000000000000:role/r', statements: [] },
    ...overrides,
  };
}

const HANDLER = `
let invocations = 0;
exports.handler = async (event, context) => {
  invocations++;
  if (event.sleep) await new Promise((r) => setTimeout(r, event.sleep));
  if (event.fail) throw new TypeError('it failed');
  if (event.exit) process.exit(3);
  if (event.big) return 'x'.repeat(7_000_000);
  return { pid: process.pid, invocations, left: context.getRemainingTimeInMillis(), heap: process.execArgv, env: process.env.SOME };
};`;

describe('function execution environments', () => {
  const pools: FunctionPool[] = [];
  const pool = (fn: FunctionModel, maxEnvironments = 2) => {
    const p = new FunctionPool({ fn, environment: { SOME: 'value', PATH: process.env.PATH ?? '' }, maxEnvironments });
    pools.push(p);
    return p;
  };
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.stop()));
  });

  test('keep a warm environment with the function environment, memory limit and remaining time', async () => {
    const p = pool(bundle(HANDLER));
    await p.warm();
    const first = await p.invoke({});
    const second = await p.invoke({});
    expect(first).toMatchObject({
      kind: 'result',
      result: { invocations: 1, env: 'value', heap: ['--max-old-space-size=115'] },
    });
    expect(second).toMatchObject({ kind: 'result', result: { invocations: 2 } });
    const left = (first as { result: { left: number } }).result.left;
    expect(left).toBeGreaterThan(1000);
    expect(left).toBeLessThanOrEqual(2000);
  });

  test('serve one request at a time each, starting more up to the bound', async () => {
    const p = pool(bundle(HANDLER), 2);
    const outcomes = await Promise.all([1, 2, 3].map(() => p.invoke({ sleep: 300 })));
    const pids = new Set(outcomes.map((o) => (o as { result: { pid: number } }).result.pid));
    expect(pids.size).toBe(2);
  });

  test('a function that runs over its timeout is stopped and its environment replaced', async () => {
    const p = pool(bundle(HANDLER, { timeoutSeconds: 1 }));
    await p.warm();
    const [before] = p.pids();
    const started = Date.now();
    const outcome = await p.invoke({ sleep: 5000 });
    expect(outcome).toEqual({
      kind: 'error',
      errorType: 'Sandbox.Timedout',
      errorMessage: 'Task timed out after 1.00 seconds',
    });
    expect(Date.now() - started).toBeLessThan(2500);
    const after = await p.invoke({});
    expect(after).toMatchObject({ kind: 'result', result: { invocations: 1 } });
    expect(p.pids()).not.toContain(before);
  });

  test('a thrown error, a crash and an oversized response are function errors', async () => {
    const p = pool(bundle(HANDLER));
    expect(await p.invoke({ fail: true })).toMatchObject({
      kind: 'error',
      errorType: 'TypeError',
      errorMessage: 'it failed',
    });
    expect(await p.invoke({ exit: true })).toMatchObject({ kind: 'error', errorType: 'Runtime.ExitError' });
    expect(await p.invoke({ big: true })).toMatchObject({ kind: 'error', errorType: 'Function.ResponseSizeTooLarge' });
    expect(await p.invoke({})).toMatchObject({ kind: 'result' });
  });

  test('a bundle that fails to load fails the invocation with an init error', async () => {
    const p = pool(bundle('throw new Error("no config");'));
    expect(await p.invoke({})).toMatchObject({ kind: 'error', errorType: 'Runtime.InitError' });
  });
});
