import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join, relative } from 'node:path';

/** The repository root: the CDK app and everything it bundles. */
export const PROJECT_ROOT = join(__dirname, '..', '..', '..');

/** What the app and its bundles are built from; anything else (docs, tests, tools) leaves the key alone. */
const INPUTS = ['bin/registry.ts', 'lib', 'lambda', 'package-lock.json', 'cdk.json', 'tsconfig.json', '.dockerignore'];
/** Assemblies kept side by side (one per configuration in use, e.g. open and token mode). */
const KEEP = 6;

export interface SynthResult {
  /** The cloud assembly: `<dir>/<stack>.template.json`, `<dir>/asset.<hash>/index.js`, … */
  readonly assemblyDir: string;
  readonly cached: boolean;
  readonly milliseconds: number;
}

/**
 * Synthesizes the CDK app exactly as `cdk synth` does (the app as a child process, context from
 * cdk.json plus `context`, through `CDK_CONTEXT_JSON` and `CDK_OUTDIR`), into
 * `cdk.out/local/<key>`, where the key hashes every input and the context. A warm start finds the
 * assembly there and synthesizes nothing.
 */
export async function synthesize(
  context: Readonly<Record<string, string>>,
  log: (line: string) => void = () => {},
): Promise<SynthResult> {
  const started = Date.now();
  const base = join(PROJECT_ROOT, 'cdk.out', 'local');
  const key = assemblyKey(context);
  const assemblyDir = join(base, key);
  if (existsSync(join(assemblyDir, 'manifest.json'))) {
    // Touched, so that pruning keeps what is in use.
    const now = new Date();
    utimesSync(assemblyDir, now, now);
    return { assemblyDir, cached: true, milliseconds: Date.now() - started };
  }
  log(`synthesizing the stack (cdk.out/local/${key}): bundling every function, about 15 s`);
  const staging = `${assemblyDir}.${process.pid}.tmp`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: object };
  await run(staging, { ...cdkJson.context, ...context });
  if (!existsSync(join(staging, 'manifest.json'))) throw new Error('synth wrote no cloud assembly');
  // Another start may have synthesized the same inputs meanwhile and be running from it: keep that one.
  if (existsSync(join(assemblyDir, 'manifest.json'))) rmSync(staging, { recursive: true, force: true });
  else {
    rmSync(assemblyDir, { recursive: true, force: true });
    renameSync(staging, assemblyDir);
  }
  prune(base);
  return { assemblyDir, cached: false, milliseconds: Date.now() - started };
}

function run(outdir: string, context: object): Promise<void> {
  const tsx = join(PROJECT_ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsx, join('bin', 'registry.ts')], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CDK_OUTDIR: outdir, CDK_CONTEXT_JSON: JSON.stringify(context) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`synth failed (exit ${code}):\n${output.trim()}`)),
    );
  });
}

/** A hash of every input file's path and bytes, and of the context. */
export function assemblyKey(context: Readonly<Record<string, string>>): string {
  const hash = createHash('sha256');
  const visit = (path: string): void => {
    const full = join(PROJECT_ROOT, path);
    if (!existsSync(full)) return;
    if (statSync(full).isDirectory()) {
      for (const entry of readdirSync(full).sort()) visit(join(path, entry));
      return;
    }
    hash.update(relative(PROJECT_ROOT, full)).update('\0').update(readFileSync(full)).update('\0');
  };
  for (const input of INPUTS) visit(input);
  hash.update(JSON.stringify(Object.entries(context).sort()));
  return hash.digest('hex').slice(0, 16);
}

function prune(base: string): void {
  const dirs = readdirSync(base)
    .filter((d) => !d.endsWith('.tmp'))
    .map((d) => ({ d, t: statSync(join(base, d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d } of dirs.slice(KEEP)) rmSync(join(base, d), { recursive: true, force: true });
}
