/**
 * `npm run bench:cold`: what a cold start of each function costs before its first request. It
 * synthesizes the stack (or takes the cached assembly, tools/local/stack/synth.ts) and prints, per
 * function of the template: the bundle's bytes, and the CPU milliseconds Node spends loading it
 * (`require` of `asset.<hash>/index.js` in a fresh process: median and range of RUNS processes).
 * Lambda bills the INIT phase, so this is cost as well as latency. CPU time, not wall time: the
 * machine is shared, and CPU time varies far less with what else runs.
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { loadStackModel } from '../tools/local/stack/stack-model';
import { synthesize } from '../tools/local/stack/synth';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);

/** CPU ms of loading `bundle` in a fresh Node process (user + system, the process's own count). */
function loadCpuMs(bundle: string): number {
  const probe = `const t=process.cpuUsage();require(${JSON.stringify(bundle)});const u=process.cpuUsage(t);process.stdout.write(String((u.user+u.system)/1000))`;
  return Number(execFileSync(process.execPath, ['-e', probe], { env: { PATH: process.env.PATH ?? '' } }).toString());
}

async function main(): Promise<void> {
  const synth = await synthesize({ authMode: 'token', uploadDataPath: 'false' }, (line) => console.log(line));
  const model = loadStackModel(synth.assemblyDir, 'ServerlessRegistry', {
    prefix: 'bench',
    region: 'us-east-1',
    account: '000000000000',
    publicHost: 'localhost',
  });
  console.log(`node ${process.version}, ${RUNS} fresh processes per function, token mode stack\n`);
  const rows = model.functions.map((fn) => {
    const bundle = join(fn.codeDir, 'index.js');
    const samples = Array.from({ length: RUNS }, () => loadCpuMs(bundle)).sort((a, b) => a - b);
    return {
      fn: fn.logicalId.replace(/[0-9A-F]{8}$/, ''),
      bytes: statSync(bundle).size,
      median: samples[Math.floor(samples.length / 2)] ?? 0,
      min: samples[0] ?? 0,
      max: samples[samples.length - 1] ?? 0,
    };
  });
  const width = Math.max(...rows.map((r) => r.fn.length));
  console.log(`${'function'.padEnd(width)}  ${'bundle KB'.padStart(9)}  ${'load CPU ms (median, min-max)'}`);
  for (const r of rows) {
    console.log(
      `${r.fn.padEnd(width)}  ${(r.bytes / 1000).toFixed(0).padStart(9)}  ${r.median.toFixed(0).padStart(4)} (${r.min.toFixed(0)}-${r.max.toFixed(0)})`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
