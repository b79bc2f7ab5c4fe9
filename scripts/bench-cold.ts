/**
 * `npm run bench:cold`: what a cold start of each function costs before its first request. It
 * synthesizes the stack (or takes the cached assembly, tools/local/stack/synth.ts) and prints, per
 * function of the template: the bundle's bytes, and the CPU milliseconds Node spends loading it
 * (`require` of `asset.<hash>/index.js` in a fresh process: median and range of RUNS processes).
 * Lambda bills the INIT phase, so this is cost as well as latency. CPU time, not wall time: the
 * machine is shared, and CPU time varies far less with what else runs.
 *
 * Settings (environment variables):
 * - `BENCH_RUNS`: fresh processes per function (default 7);
 * - `BENCH_BASELINE`: the directory of another cloud assembly (a copy of `cdk.out/local/<key>` made
 *   before a change): its functions are measured too, in the same rounds as the current ones, so
 *   that both see the same load on the machine, and the table shows before and after;
 * - `BENCH_NODE_OPTIONS=function`: load each bundle with its function's own `NODE_OPTIONS` (e.g.
 *   `--enable-source-maps`, which makes Node read the source map at load), as Lambda does; by
 *   default bundles load with no options.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadStackModel, type FunctionModel } from '../tools/local/stack/stack-model';
import { synthesize } from '../tools/local/stack/synth';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const BASELINE = process.env.BENCH_BASELINE;
const WITH_NODE_OPTIONS = process.env.BENCH_NODE_OPTIONS === 'function';
const STACK = 'ServerlessRegistry';
const NAMES = { prefix: 'bench', region: 'us-east-1', account: '000000000000', publicHost: 'localhost' };

/** A bundle to measure: its file and the NODE_OPTIONS it loads with. */
interface Subject {
  readonly bundle: string;
  readonly nodeOptions?: string;
}

/** CPU ms of loading a bundle in a fresh Node process (user + system, the process's own count). */
function loadCpuMs({ bundle, nodeOptions }: Subject): number {
  const probe = `const t=process.cpuUsage();require(${JSON.stringify(bundle)});const u=process.cpuUsage(t);process.stdout.write(String((u.user+u.system)/1000))`;
  const env = { PATH: process.env.PATH ?? '', ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
  return Number(execFileSync(process.execPath, ['-e', probe], { env }).toString());
}

interface Stats {
  readonly bytes: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

function stats(subject: Subject, samples: number[]): Stats {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    bytes: statSync(subject.bundle).size,
    median: sorted[Math.floor(sorted.length / 2)] ?? 0,
    min: sorted[0] ?? 0,
    max: sorted[sorted.length - 1] ?? 0,
  };
}

/** The function's name without the hash CDK appends to logical ids. */
const shortName = (fn: FunctionModel) => fn.logicalId.replace(/[0-9A-F]{8}$/, '');

function subjectOf(fn: FunctionModel): Subject {
  const nodeOptions = WITH_NODE_OPTIONS ? fn.environment.NODE_OPTIONS : undefined;
  return { bundle: join(fn.codeDir, 'index.js'), ...(nodeOptions ? { nodeOptions } : {}) };
}

async function main(): Promise<void> {
  const synth = await synthesize({ authMode: 'token', uploadDataPath: 'false' }, (line) => console.log(line));
  const current = loadStackModel(synth.assemblyDir, STACK, NAMES).functions;
  const baseline = BASELINE
    ? new Map(loadStackModel(BASELINE, STACK, NAMES).functions.map((f) => [shortName(f), f]))
    : undefined;
  const rows = current.map((fn) => {
    const before = baseline?.get(shortName(fn));
    return { name: shortName(fn), subjects: [subjectOf(fn), ...(before ? [subjectOf(before)] : [])] };
  });
  console.log(
    `node ${process.version}, ${RUNS} fresh processes per bundle, token mode stack, ` +
      `${WITH_NODE_OPTIONS ? "each function's NODE_OPTIONS" : 'no NODE_OPTIONS'}` +
      `${BASELINE ? `, baseline ${BASELINE}` : ''}\n`,
  );
  // Round by round, every bundle once per round: a busy spell on the machine hits all of them alike.
  const samples = rows.map((r) => r.subjects.map(() => [] as number[]));
  for (let run = 0; run < RUNS; run++) {
    rows.forEach((r, i) => r.subjects.forEach((s, j) => samples[i]![j]!.push(loadCpuMs(s))));
  }
  const width = Math.max(...rows.map((r) => r.name.length));
  const cell = (s: Stats) =>
    `${(s.bytes / 1000).toFixed(0).padStart(9)}  ${s.median.toFixed(0).padStart(4)} (${s.min.toFixed(0)}-${s.max.toFixed(0)})`;
  if (!baseline) {
    console.log(`${'function'.padEnd(width)}  ${'bundle KB'.padStart(9)}  load CPU ms (median, min-max)`);
  } else {
    console.log(`${''.padEnd(width)}  ${'before'.padEnd(24)}  ${'after'.padEnd(24)}  after/before`);
    console.log(
      `${'function'.padEnd(width)}  ${'bundle KB'.padStart(9)}  ${'CPU ms'.padEnd(13)}  ${'bundle KB'.padStart(9)}  ${'CPU ms'.padEnd(13)}  ${'KB'.padStart(5)}  ${'CPU'.padStart(5)}`,
    );
  }
  rows.forEach((r, i) => {
    const [after, before] = r.subjects.map((s, j) => stats(s, samples[i]![j]!));
    if (!before) {
      console.log(`${r.name.padEnd(width)}  ${cell(after!)}`);
      return;
    }
    const ratio = (a: number, b: number) => `${((100 * a) / b).toFixed(0)} %`.padStart(5);
    console.log(
      `${r.name.padEnd(width)}  ${cell(before).padEnd(24)}  ${cell(after!).padEnd(24)}  ${ratio(after!.bytes, before.bytes)}  ${ratio(after!.median, before.median)}`,
    );
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
