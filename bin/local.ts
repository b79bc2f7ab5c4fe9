#!/usr/bin/env -S node --import tsx
import '../tools/quiet-warnings';
import { exitUnlessPrerequisites } from '../tools/local/prerequisites';
import { startLocalStack } from '../tools/local/stack/local-stack';
import { functionLogFilter } from '../tools/local/stack/log-filter';
import { describePullThrough, pullThroughFromEnv } from '../tools/local/stack/pull-through';

/**
 * `npm start`: the synthesized stack on http://localhost:5000 (REGISTRY_PORT): every function of the
 * template from its bundle, with the template's environment, routes and IAM policies, data under
 * .registry-data (REGISTRY_DATA_DIR), on embedded S3 and DynamoDB servers. REGISTRY_AUTH_MODE=token
 * or basic synthesizes the stack with that access control (users are managed with `npx
 * serverless-oci-registry --local user add …`). REGISTRY_PULL_THROUGH=hub=https://registry-1.docker.io
 * adds a pull-through cache (credentials from the file REGISTRY_PULL_THROUGH_CREDENTIALS names, tag
 * TTL from REGISTRY_PULL_THROUGH_TAG_TTL). `npm run dev` runs the TypeScript sources in one process
 * instead, for a quick loop.
 */
async function main(): Promise<void> {
  exitUnlessPrerequisites();
  if (process.env.AWS_ENDPOINT_URL) {
    // The stack's IAM needs the embedded S3 server's accounts; other endpoints get the one-process mode.
    console.log('AWS_ENDPOINT_URL is set: running the sources in one process on those endpoints (npm run dev)');
    await import('./dev');
    return;
  }
  const started = Date.now();
  // Checked before anything starts: a malformed value is one line, not a stack trace.
  const pullThrough = pullThroughFromEnv(process.env);
  for (const line of describePullThrough(pullThrough ?? [])) console.log(line);
  if (pullThrough && process.env.REGISTRY_UPLOADER === 'off') {
    // The synth's warning, which local mode does not show: only the uploader fills large blobs.
    console.log('pull-through without the uploader: blobs over 64 MiB cannot be filled and are answered 503');
  }
  const printLog = functionLogFilter((line) => console.log(line));
  const stack = await startLocalStack({
    port: Number(process.env.REGISTRY_PORT ?? 5000),
    host: process.env.REGISTRY_HOST ?? '127.0.0.1',
    dataDir: process.env.REGISTRY_DATA_DIR ?? '.registry-data',
    uploader: process.env.REGISTRY_UPLOADER !== 'off',
    auth: {
      mode: (process.env.REGISTRY_AUTH_MODE ?? 'none') as 'none' | 'basic' | 'token',
      anonymousPull: (process.env.REGISTRY_ANONYMOUS_PULL ?? '').split(',').filter(Boolean),
    },
    logLevel: process.env.REGISTRY_LOG_LEVEL ?? 'WARN',
    ...(process.env.REGISTRY_PATH_PREFIX ? { pathPrefix: process.env.REGISTRY_PATH_PREFIX } : {}),
    ...(pullThrough ? { pullThrough } : {}),
    log: (line) => console.log(line),
    onLog: printLog,
    onRequest: (r) => {
      if (process.env.REGISTRY_LOG_REQUESTS !== 'false')
        console.log(`${r.method} ${r.path} -> ${r.status} [${r.group}]`);
    },
  });
  const functions = Object.entries(stack.pids());
  console.log(
    `${functions.length} processes of the template: ${functions.map(([n, p]) => `${n} (pid ${p.join(',')})`).join(', ')}`,
  );
  console.log(`access control: ${process.env.REGISTRY_AUTH_MODE ?? 'none'}`);
  console.log(
    `registry listening on ${stack.url} after ${((Date.now() - started) / 1000).toFixed(1)} s (try: curl ${stack.url}/v2/)`,
  );
  const shutdown = () => {
    void stack.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
