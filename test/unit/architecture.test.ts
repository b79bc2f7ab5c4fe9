import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(join(ROOT, path)).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function imports(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  // Static imports, re-exports and dynamic import('…') alike.
  return [...text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)'([^']+)'/g)].map((m) => m[1] as string);
}

/** Resolves a relative import to a repository path, so rules can speak of folders. */
function target(file: string, spec: string): string {
  return spec.startsWith('.') ? relative(ROOT, join(ROOT, file, '..', spec)) : spec;
}

/** The dependency rule (handlers → http → core ← adapters), checked on every import. */
describe('dependency rule', () => {
  const cases: [string, (file: string, imported: string) => boolean, string][] = [
    [
      'lambda/core',
      (_f, i) =>
        /^(@aws-sdk|@smithy|aws-lambda|@middy|aws-cdk-lib)/.test(i) ||
        /^lambda\/(adapters|http|handlers|local|config)/.test(i),
      'core imports only itself, node: and hash-wasm',
    ],
    [
      'lambda/http',
      (_f, i) => /^@aws-sdk|^aws-cdk-lib/.test(i) || /^lambda\/(adapters|handlers|local)/.test(i),
      'http never touches adapters or the SDK',
    ],
    [
      'lambda/adapters',
      (_f, i) => /^lambda\/(http|handlers|local)/.test(i) || /^aws-cdk-lib/.test(i),
      'adapters depend on core only',
    ],
    ['lambda/config', (_f, i) => !/^(node:|\.|lambda\/config)/.test(i), 'config stays import-free so lib/ may use it'],
    [
      'lambda',
      (_f, i) => /^(tools|bin|lib|scripts|test)\//.test(i),
      'what runs in AWS never imports the tools that run on a user machine',
    ],
    [
      'tools/push-helper',
      (_f, i) => !/^(node:|lambda\/core\/|tools\/push-helper\/)/.test(i),
      'the push helper (a client-side tool) takes shared grammar from core only',
    ],
    [
      'tools/smoke',
      (_f, i) => !/^(node:|lambda\/core\/|tools\/(smoke|push-helper)\/)/.test(i),
      'the smoke test speaks HTTP only: core grammar and the push helper, never the server side',
    ],
    [
      'tools/local/stack',
      (_f, i) => /^lambda\/(http|handlers|core\/services)/.test(i),
      'the stack runner runs the bundles, never the sources it serves',
    ],
    [
      'lib',
      (_f, i) => /^lambda\//.test(i) && !/^lambda\/config\//.test(i),
      'infrastructure imports only lambda/config',
    ],
  ];
  for (const [dir, forbidden, rule] of cases) {
    test(`${dir}: ${rule}`, () => {
      const files = sources(dir);
      if (dir !== 'lib') expect(files.length).toBeGreaterThan(0);
      const violations = files.flatMap((f) =>
        imports(f)
          .map((i) => [f, target(f, i)] as const)
          .filter(([file, i]) => forbidden(file, i)),
      );
      expect(violations).toEqual([]);
    });
  }

  test('@aws-sdk is imported only under lambda/adapters', () => {
    const offenders = [...sources('lambda'), ...sources('bin'), ...sources('tools')].filter(
      (f) => !f.startsWith('lambda/adapters/') && imports(f).some((i) => i.startsWith('@aws-sdk/')),
    );
    expect(offenders).toEqual([]);
  });
});

/** Import cycles make load order matter; the admin CLI once had one among its command files. */
test('no import cycles among the project sources', () => {
  const files = ['bin', 'lib', 'lambda', 'tools', 'scripts'].flatMap(sources);
  const known = new Set(files);
  const edges = new Map(
    files.map((f) => [
      f,
      imports(f)
        .filter((i) => i.startsWith('.'))
        .map((i) => `${target(f, i)}.ts`)
        .filter((t) => known.has(t)),
    ]),
  );
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, path: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const next of edges.get(file) ?? []) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  expect(cycles).toEqual([]);
});
