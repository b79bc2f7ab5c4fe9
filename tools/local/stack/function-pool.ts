import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { FunctionModel } from './stack-model';

/** Lambda's synchronous response payload limit. */
export const RESPONSE_PAYLOAD_LIMIT = 6_291_456;

const RUNTIME = join(__dirname, 'lambda-runtime.cjs');

/** What an invocation came to, as Lambda reports it to API Gateway. */
export type InvokeOutcome =
  | { readonly kind: 'result'; readonly result: unknown }
  /** The handler threw, the environment crashed, timed out, or answered more than 6 MB. */
  | { readonly kind: 'error'; readonly errorType: string; readonly errorMessage: string };

export interface FunctionPoolOptions {
  readonly fn: FunctionModel;
  /** The whole environment of each execution environment (template, reserved variables, credentials). */
  readonly environment: Readonly<Record<string, string>>;
  /** Execution environments at most; requests beyond wait for one to be free. */
  readonly maxEnvironments: number;
  /** Each line a function writes (its logs, as CloudWatch Logs would get them). */
  readonly onLog?: (fn: FunctionModel, line: string) => void;
}

interface Environment {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  busy: boolean;
  pending?: { id: string; settle: (outcome: InvokeOutcome) => void };
}

/**
 * The execution environments of one function, as Lambda keeps them: each a long-lived Node process
 * running the function's bundle in place from the cloud assembly, with the function's environment
 * and its memory size as heap limit, serving one invocation at a time. More are started on demand up
 * to a bound; one that times out or crashes is discarded and replaced by a fresh one on the next
 * request (a cold start), as Lambda resets an environment after a timeout.
 */
export class FunctionPool {
  private readonly environments: Environment[] = [];
  private readonly waiting: (() => void)[] = [];
  private stopped = false;

  constructor(private readonly options: FunctionPoolOptions) {}

  get fn(): FunctionModel {
    return this.options.fn;
  }

  /** Process ids of the running environments. */
  pids(): number[] {
    return this.environments.flatMap((e) => (e.child.pid ? [e.child.pid] : []));
  }

  /** Starts one environment ahead of the first request, as provisioned concurrency would. */
  async warm(): Promise<void> {
    if (this.environments.length === 0) await this.start().ready;
  }

  async invoke(event: unknown, requestId: string = randomUUID()): Promise<InvokeOutcome> {
    const environment = await this.acquire();
    try {
      await environment.ready;
    } catch (err) {
      this.discard(environment);
      return { kind: 'error', errorType: 'Runtime.InitError', errorMessage: String(err) };
    }
    const { fn } = this.options;
    const id = randomUUID();
    const deadline = Date.now() + fn.timeoutSeconds * 1000;
    const outcome = await new Promise<InvokeOutcome>((settle) => {
      const timer = setTimeout(() => {
        this.discard(environment);
        settle({
          kind: 'error',
          errorType: 'Sandbox.Timedout',
          errorMessage: `Task timed out after ${fn.timeoutSeconds.toFixed(2)} seconds`,
        });
      }, deadline - Date.now());
      environment.pending = {
        id,
        settle: (o) => {
          clearTimeout(timer);
          settle(o);
        },
      };
      environment.child.send({ type: 'invoke', id, event, deadline, requestId, functionArn: fn.arn });
    });
    environment.pending = undefined;
    this.release(environment);
    if (outcome.kind === 'result' && Buffer.byteLength(JSON.stringify(outcome.result)) > RESPONSE_PAYLOAD_LIMIT) {
      return {
        kind: 'error',
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${RESPONSE_PAYLOAD_LIMIT} bytes).`,
      };
    }
    return outcome;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(
      this.environments.splice(0).map(
        (e) =>
          new Promise<void>((resolve) => {
            if (e.child.exitCode !== null || e.child.signalCode !== null) return resolve();
            e.child.once('exit', () => resolve());
            // A profiled environment ends itself on SIGTERM, so that V8 writes its profile.
            e.child.kill(cpuProfileDir() ? 'SIGTERM' : 'SIGKILL');
          }),
      ),
    );
  }

  private async acquire(): Promise<Environment> {
    for (;;) {
      if (this.stopped) throw new Error(`${this.options.fn.name} is stopped`);
      const idle = this.environments.find((e) => !e.busy);
      if (idle) {
        idle.busy = true;
        return idle;
      }
      if (this.environments.length < this.options.maxEnvironments) {
        const started = this.start();
        started.busy = true;
        return started;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private release(environment: Environment): void {
    environment.busy = false;
    this.waiting.shift()?.();
  }

  private discard(environment: Environment): void {
    const index = this.environments.indexOf(environment);
    if (index >= 0) this.environments.splice(index, 1);
    environment.child.kill('SIGKILL');
    this.waiting.shift()?.();
  }

  private start(): Environment {
    const { fn } = this.options;
    // The bundle's path as an argument, for `ps` to name what each environment runs.
    const child = fork(RUNTIME, [join(fn.codeDir, `${fn.handler.split('.')[0]}.js`)], {
      cwd: fn.codeDir,
      // Where the runtime finds the bundle and its handler, as Lambda tells its runtime.
      env: { ...this.options.environment, LAMBDA_TASK_ROOT: fn.codeDir, _HANDLER: fn.handler },
      // Not this process's flags (tsx's loader): the bundle runs on plain Node. Lambda's runtime
      // sizes the old space to about 90 % of the function's memory.
      execArgv: [`--max-old-space-size=${Math.floor(fn.memoryMb * 0.9)}`, ...cpuProfileArgs()],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.options.onLog?.(fn, line));
    }
    let markReady: () => void = () => {};
    let failInit: (err: Error) => void = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failInit = reject;
    });
    ready.catch(() => {});
    const environment: Environment = { child, ready, busy: false };
    child.on('message', (message: { type: string; id?: string; result?: unknown; error?: Record<string, string> }) => {
      if (message.type === 'ready') markReady();
      else if (message.type === 'init-error') failInit(new Error(message.error?.errorMessage ?? 'init failed'));
      else if (environment.pending && message.id === environment.pending.id) {
        environment.pending.settle(
          message.type === 'result'
            ? { kind: 'result', result: message.result }
            : {
                kind: 'error',
                errorType: message.error?.errorType ?? 'Error',
                errorMessage: message.error?.errorMessage ?? '',
              },
        );
      }
    });
    child.on('exit', (code, signal) => {
      failInit(new Error(`the runtime exited (${signal ?? code}) during init`));
      const index = this.environments.indexOf(environment);
      if (index >= 0) this.environments.splice(index, 1);
      environment.pending?.settle({
        kind: 'error',
        errorType: 'Runtime.ExitError',
        errorMessage: `RequestId: ${environment.pending.id} Error: Runtime exited (${signal ?? `exit status ${code}`})`,
      });
      this.waiting.shift()?.();
    });
    this.environments.push(environment);
    return environment;
  }
}

/** Where each environment writes a V8 CPU profile when it ends (REGISTRY_CPU_PROFILE_DIR), if anywhere. */
function cpuProfileDir(): string | undefined {
  return process.env.REGISTRY_CPU_PROFILE_DIR || undefined;
}

function cpuProfileArgs(): string[] {
  const dir = cpuProfileDir();
  return dir ? ['--cpu-prof', `--cpu-prof-dir=${dir}`] : [];
}
