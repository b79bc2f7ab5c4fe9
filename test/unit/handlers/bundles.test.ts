import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { FUNCTION_BUNDLING } from '../../../lib/constructs/functions';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * Each function bundles the SDK clients and libraries its group's routes call, and nothing else: a
 * handler that composed the whole registry again (lambda/handlers/compose.ts) would take every
 * client into every bundle, 1.4 MB each, and load it at each cold start.
 */
const EXPECTED: Record<string, readonly string[]> = {
  // Checks callers (token public keys in KMS, fetched without the KMS client: adapters/kms/kms-public-keys.ts,
  // or the accounts table), /health and its mode.
  base: ['@aws-sdk/client-dynamodb', 'jose'],
  // Events, and a pull-through rule's upstream credentials, are read and sent with signed JSON
  // requests of their own (adapters/aws-json), with no EventBridge or Secrets Manager client.
  blobs: ['@aws-sdk/client-dynamodb', '@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner', 'hash-wasm', 'jose'],
  manifests: ['@aws-sdk/client-dynamodb', '@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner', 'jose'],
  discovery: ['@aws-sdk/client-dynamodb', 'jose'],
  token: ['@aws-sdk/client-dynamodb', '@aws-sdk/client-kms', 'jose'],
  gc: ['@aws-sdk/client-dynamodb', '@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner'],
  sweeper: ['@aws-sdk/client-dynamodb', '@aws-sdk/client-s3', '@aws-sdk/s3-request-presigner'],
};

/** The packages whose presence the table speaks of: SDK clients and the heavy libraries. */
const WATCHED = /^(@aws-sdk\/client-[a-z0-9-]+|@aws-sdk\/s3-request-presigner|hash-wasm|jose)$/;

/**
 * Bytes each bundle may have (minified, ES-module builds of dependencies preferred): a budget with
 * some headroom over what the bundles have, so that a library creeping in is seen here first. No
 * HTTP function may grow past 600 KB, what its cold start is held to (`npm run bench:cold` measures
 * the load time that goes with the bytes).
 */
const BUDGET_KB: Record<string, number> = {
  base: 400,
  blobs: 600,
  manifests: 600,
  discovery: 400,
  token: 400,
  gc: 500,
  sweeper: 480,
};

interface Bundle {
  /** The files tree shaking left bytes of, relative to the repository. */
  readonly inputs: readonly string[];
  readonly bytes: number;
}

/** Every handler bundled in one esbuild run (which parses what they share once), as the stack does. */
async function bundles(handlers: readonly string[]): Promise<Map<string, Bundle>> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: handlers.map((h) => join('lambda', 'handlers', `${h}.ts`)),
    bundle: true,
    platform: 'node',
    target: 'node20',
    mainFields: FUNCTION_BUNDLING.mainFields,
    external: FUNCTION_BUNDLING.externalModules,
    minify: true,
    write: false,
    metafile: true,
    outdir: 'bundles',
    logLevel: 'silent',
  });
  const byHandler = new Map<string, Bundle>();
  for (const output of Object.values((result.metafile as Metafile).outputs)) {
    const handler = /lambda\/handlers\/([a-z-]+)\.ts$/.exec(output.entryPoint ?? '')?.[1];
    if (!handler) continue;
    byHandler.set(handler, {
      inputs: Object.entries(output.inputs)
        .filter(([, input]) => input.bytesInOutput > 0)
        .map(([path]) => path),
      bytes: output.bytes,
    });
  }
  return byHandler;
}

function packageOf(path: string): string | undefined {
  return /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(path)?.[1];
}

let built: Map<string, Bundle>;
beforeAll(async () => {
  built = await bundles(Object.keys(EXPECTED));
});

describe.each(Object.keys(EXPECTED))('the %s function', (handler) => {
  const bundle = () => built.get(handler) as Bundle;

  test('bundles the clients and libraries of its routes, and no others', () => {
    const packages = new Set(
      bundle()
        .inputs.map(packageOf)
        .filter((p): p is string => !!p && WATCHED.test(p)),
    );
    expect([...packages].sort()).toEqual(EXPECTED[handler]);
  });

  test('composes its own services, not the whole registry', () => {
    expect(bundle().inputs).not.toContain('lambda/handlers/compose.ts');
  });

  test('stays within its bundle budget', () => {
    expect(Math.round(bundle().bytes / 1000)).toBeLessThanOrEqual(BUDGET_KB[handler] as number);
  });
});
