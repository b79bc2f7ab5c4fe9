import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startMoto } from '../tools/local/moto-server';
import { ensureMoto, MOTO_REQUIREMENTS } from '../tools/local/tools';

/** The suites the run covers, as `npm run test:localstack` names them. */
const SUITES = ['test/contract', 'test/integration'];

/**
 * Test files left out of the run against moto, with why: those that drive the synthesized stack
 * (`startTestStack`), found by reading them, so that a new one is left out too. The stack needs the
 * embedded servers: each function role gets credentials of its own, written into versitygw's
 * account file, and an external endpoint has no such accounts. They run in `npm test`.
 */
function motoExcluded(root = join(__dirname, '..')): { file: string; why: string }[] {
  return SUITES.flatMap((suite) =>
    readdirSync(join(root, suite))
      .filter((name) => name.endsWith('.test.ts'))
      .map((name) => `${suite}/${name}`)
      .filter((file) => readFileSync(join(root, file), 'utf8').includes('startTestStack('))
      .map((file) => ({
        file,
        why: 'drives the synthesized stack, whose function roles have accounts only on the embedded S3 server',
      })),
  );
}

/**
 * Runs the contract and integration suites (`npm run test:localstack`) against moto's server: one
 * endpoint for S3, DynamoDB, KMS, SSM, EventBridge and SQS, as LocalStack would be. It shows that
 * the suites depend on nothing but `AWS_ENDPOINT_URL`, region and credentials, and runs them on a
 * second implementation of each service besides the embedded servers. Tests that depend on a
 * refusal of S3 moto does not make are skipped with the reason (see test/support/endpoint-strictness.ts).
 *
 * `npx tsx scripts/test-moto.ts [jest arguments]`: with arguments, jest runs with those (e.g. one
 * test file) instead of the whole of both suites.
 */
async function main(): Promise<number> {
  const started = Date.now();
  const moto = await startMoto(ensureMoto((line) => console.log(line)));
  console.log(`moto server on ${moto.endpoint}`);
  const left = motoExcluded();
  for (const { file, why } of left) console.log(`not run against moto: ${file} (${why})`);
  try {
    const excluded = left.flatMap(({ file }) => ['--testPathIgnorePatterns', `/${file.replace(/[.]/g, '\\.')}$`]);
    const args = process.argv.slice(2);
    // The npm script is what a LocalStack run uses; it names both suites, which jest would add to
    // any test path given here, so a narrower run calls jest itself with the same environment.
    const [command, commandArgs] =
      args.length === 0
        ? ['npm', ['run', 'test:localstack', '--', ...excluded]]
        : ['npx', ['jest', '--runInBand', ...excluded, ...args]];
    return await new Promise<number>((resolve, reject) => {
      const child = spawn(command, commandArgs, { stdio: 'inherit', env: motoEnvironment(moto.endpoint) });
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    await moto.stop();
    console.log(`moto run took ${Math.round((Date.now() - started) / 1000)} s`);
  }
}

/**
 * The environment of the run: moto for every service, a fixed region, and test credentials. moto
 * takes any credentials; fixed ones keep a developer's own (keys, session, profile, per-service
 * endpoints) from reaching the run.
 */
function motoEnvironment(endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith('AWS_')) delete env[name];
  }
  return {
    ...env,
    REGISTRY_EXTERNAL_ENDPOINTS: '1',
    REGISTRY_ENDPOINT_NAME: MOTO_REQUIREMENTS[0].replace('==', ' '),
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
