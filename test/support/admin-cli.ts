import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';

const ROOT = join(__dirname, '..', '..');

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node --import tsx bin/admin.ts …` (what `npx serverless-oci-registry` runs), with `stdin` then closed. */
export function runAdminCli(args: string[], env: NodeJS.ProcessEnv, stdin = ''): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bin/admin.ts', ...args], { cwd: ROOT, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr: stderr.replace(/^npm warn .*\n/gm, '') }));
    child.stdin.end(stdin);
  });
}

/** The run's S3 and DynamoDB as a deployed stack's operator has AWS: from the environment. */
export function operatorEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.REGISTRY_TABLE;
  delete env.REGISTRY_BUCKET;
  delete env.REGISTRY_ACCOUNTS_TABLE;
  if (process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1') return env;
  delete env.AWS_PROFILE;
  return {
    ...env,
    AWS_ENDPOINT_URL_DYNAMODB: process.env.REGISTRY_TEST_DYNAMODB_ENDPOINT,
    AWS_ENDPOINT_URL_S3: process.env.REGISTRY_TEST_S3_ENDPOINT,
    AWS_REGION: LOCAL_REGION,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  };
}

/** The CLI options naming a deployed stack's table and bucket (here: a test registry's). */
export function stackTarget(config: { readonly table: string; readonly bucket: string }): string[] {
  return ['--metadata-table', config.table, '--bucket', config.bucket];
}
