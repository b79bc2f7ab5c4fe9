import { spawn, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REGISTRY_FEATURE_FLAGS } from '../../lib/feature-flags';

const ROOT = join(__dirname, '..', '..');
const MINUTE = 60_000;
/** What the consumer app links from this repository's node_modules rather than installing. */
const PEERS = ['aws-cdk-lib', 'constructs', 'cdk-nag'];
const STACKS = ['Consumer', 'ConsumerWithDataPath'];
/** The registry's functions: five endpoint groups, the upload sweeper and the garbage collector. */
const REGISTRY_FUNCTIONS = 7;

/**
 * Another CDK app, written against the package's declarations: a stack with the registry and its
 * defaults (environment-agnostic, token mode), one with the upload data path in an environment, no
 * feature flags at all, cdk-nag's AwsSolutions checks on the app; and a probe app that shows the
 * checks refuse what nobody acknowledged.
 */
const APP = `
import { writeFileSync } from 'node:fs';
import { App, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct } from 'constructs';
import { OciRegistry, type OciRegistryProps } from 'serverless-oci-registry';

interface ConsumerStackProps extends StackProps {
  readonly registry?: OciRegistryProps;
}

class ConsumerStack extends Stack {
  readonly registry: OciRegistry;

  constructor(scope: Construct, id: string, props: ConsumerStackProps = {}) {
    super(scope, id, props);
    this.registry = new OciRegistry(this, 'Registry', props.registry);
  }
}

const app = new App({ outdir: 'cdk.out' });
new ConsumerStack(app, 'Consumer');
new ConsumerStack(app, 'ConsumerWithDataPath', {
  env: { account: '111111111111', region: 'eu-west-1' },
  registry: { uploadDataPath: true },
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();

const probe = new App({ outdir: 'probe.out' });
new Bucket(new Stack(probe, 'Probe'), 'Unlogged');
Validations.of(probe).addPlugins(new AwsSolutionsChecks(probe));
let refusal = 'nothing refused';
try {
  probe.synth();
} catch (err) {
  refusal = String(err);
}
writeFileSync('probe.txt', refusal);
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    // Resolves the package through its `exports`, as a current TypeScript app does.
    module: 'node16',
    moduleResolution: 'node16',
    strict: true,
    skipLibCheck: true,
    typeRoots: [join(ROOT, 'node_modules', '@types')],
    types: ['node'],
  },
  files: ['app.ts'],
};

type Json = Record<string, unknown>;

/**
 * The npm package as another CDK app uses it: `npm pack` of this repository (its prepack script
 * builds dist/), an app that installs the tarball, compiles against its declarations and runs with
 * node. Nothing of this repository reaches the app but the tarball and the three packages it leaves
 * to the app (aws-cdk-lib, constructs, cdk-nag), linked from node_modules so nothing is downloaded.
 */
describe('the npm package in another CDK app', () => {
  let work = '';
  let app = '';
  const running = new Set<ChildProcess>();

  /** Runs a command to its end in a process group of its own, which a timeout or afterAll ends whole. */
  function run(command: string, args: string[], cwd: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      running.add(child);
      let output = '';
      child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const timer = setTimeout(() => killGroup(child), timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        running.delete(child);
        reject(err);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        running.delete(child);
        if (code === 0) resolve(output);
        else reject(new Error(`${command} ${args.join(' ')} ended with ${signal ?? code}:\n${output.slice(-6000)}`));
      });
    });
  }

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'oci-registry-package-'));
    const packed = join(work, 'packed');
    app = join(work, 'app');
    mkdirSync(packed);
    mkdirSync(app);

    await run('npm', ['pack', '--pack-destination', packed], ROOT, 5 * MINUTE);
    const tarballs = readdirSync(packed).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toHaveLength(1);

    const manifest = { name: 'registry-consumer', private: true, dependencies: {} as Record<string, string> };
    manifest.dependencies['serverless-oci-registry'] = `file:${join(packed, tarballs[0] ?? '')}`;
    writeFileSync(join(app, 'package.json'), JSON.stringify(manifest, null, 2));
    // The peers are the app's to provide; linked below, after npm has laid out node_modules.
    await run(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', '--legacy-peer-deps'],
      app,
      2 * MINUTE,
    );
    for (const peer of PEERS) symlinkSync(join(ROOT, 'node_modules', peer), join(app, 'node_modules', peer), 'dir');

    writeFileSync(join(app, 'app.ts'), APP);
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], app, 2 * MINUTE);
    await run(process.execPath, ['app.js'], app, 3 * MINUTE);
  }, 10 * MINUTE);

  afterAll(() => {
    for (const child of running) killGroup(child);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const assembly = (...path: string[]) => join(app, 'cdk.out', ...path);
  const template = (stack: string) => readJson(assembly(`${stack}.template.json`));
  const assets = (stack: string) => readJson(assembly(`${stack}.assets.json`));

  test('the package leaves the repository as it found it (prepack builds dist/, postpack removes it)', () => {
    expect(existsSync(join(ROOT, 'dist'))).toBe(false);
  });

  test("synthesizes under cdk-nag's AwsSolutions checks with nothing unacknowledged", () => {
    const report = readJson(assembly('validation-report.json')) as { pluginReports: { violations: unknown[] }[] };
    expect(report.pluginReports.flatMap((p) => p.violations)).toEqual([]);
    // The checks ran: the same plugin refuses an unlogged bucket in the probe app.
    expect(readFileSync(join(app, 'probe.txt'), 'utf8')).toMatch(/AwsSolutions-S1/);
  });

  test.each(STACKS)(
    "every function of %s runs from an asset directory with the package's prebuilt index.js",
    (stack) => {
      const files = assets(stack).files as Record<string, { source: { path: string } }>;
      const functions = Object.entries(template(stack).Resources as Record<string, Json>).filter(
        ([, r]) => r.Type === 'AWS::Lambda::Function',
      );
      const registry = functions.filter(([id]) => id.startsWith('Registry'));
      expect(registry).toHaveLength(REGISTRY_FUNCTIONS);
      for (const [id, resource] of functions) {
        const code = (resource.Properties as { Code: { S3Key?: unknown } }).Code;
        const hash = typeof code.S3Key === 'string' ? code.S3Key.replace(/\.zip$/, '') : undefined;
        const asset = hash === undefined ? undefined : files[hash];
        expect({ id, asset: asset?.source.path }).toEqual({ id, asset: expect.any(String) });
        expect({ id, indexJs: existsSync(assembly(asset?.source.path ?? '', 'index.js')) }).toEqual({
          id,
          indexJs: true,
        });
      }
      for (const [id, resource] of registry) {
        expect({ id, handler: (resource.Properties as Json).Handler }).toEqual({ id, handler: 'index.handler' });
      }
    },
  );

  test("the uploader's image context holds its Dockerfile and everything the Dockerfile copies", () => {
    const images = Object.values(
      assets('ConsumerWithDataPath').dockerImages as Record<
        string,
        { source: { directory: string; dockerFile?: string } }
      >,
    );
    expect(images).toHaveLength(1);
    const source = images[0]?.source;
    const context = assembly(source?.directory ?? '');
    const dockerfile = join(context, source?.dockerFile ?? 'Dockerfile');
    expect(existsSync(dockerfile)).toBe(true);
    const instructions = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ').split('\n');
    const copied = instructions
      .filter((l) => /^(COPY|ADD)\s/i.test(l) && !/\s--from=/.test(l))
      .flatMap((l) =>
        l
          .trim()
          .split(/\s+/)
          .slice(1, -1)
          .filter((arg) => !arg.startsWith('--')),
      );
    // The image needs nothing from a registry but its base: the bundle is in the context.
    expect(copied).toContain('main.js');
    for (const path of copied)
      expect({ path, inContext: existsSync(join(context, path)) }).toEqual({ path, inContext: true });
    expect(instructions.filter((l) => /^RUN\s/i.test(l))).toEqual([]);
  });
});

describe("the registry's pinned feature flags", () => {
  test('are the values cdk.json gives this repository, which its tests run with', () => {
    const context = readJson(join(ROOT, 'cdk.json')).context as Json;
    for (const [flag, value] of Object.entries(REGISTRY_FEATURE_FLAGS)) {
      expect({ flag, value: context[flag] }).toEqual({ flag, value });
    }
  });
});

function readJson(path: string): Json {
  return JSON.parse(readFileSync(path, 'utf8')) as Json;
}

function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
