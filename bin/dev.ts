#!/usr/bin/env -S node --import tsx
import '../tools/quiet-warnings';
import { exitUnlessPrerequisites } from '../tools/local/prerequisites';
import { startLocalRegistry } from '../tools/local/registry';

/**
 * `npm run dev`: the TypeScript sources in one process (a quick loop; `npm start` runs the synthesized stack): the registry on http://localhost:5000 (REGISTRY_PORT), data under .registry-data
 * (REGISTRY_DATA_DIR), on embedded S3 and DynamoDB servers; or on the endpoints of the environment
 * when AWS_ENDPOINT_URL is set (e.g. LocalStack). REGISTRY_AUTH_MODE=token or basic turns access control
 * on (users are managed with `npm run admin -- --local user add …`).
 */
async function main(): Promise<void> {
  exitUnlessPrerequisites();
  const port = Number(process.env.REGISTRY_PORT ?? 5000);
  const registry = await startLocalRegistry({
    port,
    host: process.env.REGISTRY_HOST ?? '127.0.0.1',
    dataDir: process.env.REGISTRY_DATA_DIR ?? '.registry-data',
    external: Boolean(process.env.AWS_ENDPOINT_URL),
    uploader: process.env.REGISTRY_UPLOADER !== 'off',
    auth: {
      mode: (process.env.REGISTRY_AUTH_MODE ?? 'none') as 'none' | 'basic' | 'token',
      anonymousPull: (process.env.REGISTRY_ANONYMOUS_PULL ?? '').split(',').filter(Boolean),
    },
    log: (line) => console.log(line),
    // The handlers' JSON lines (WARN unless set; INFO adds an access line per request).
    ...(process.env.REGISTRY_LOG_LEVEL ? { logLevel: process.env.REGISTRY_LOG_LEVEL } : {}),
    onRequest: (r) => {
      if (process.env.REGISTRY_LOG_REQUESTS !== 'false')
        console.log(`${r.method} ${r.path} -> ${r.status} [${r.group}]`);
    },
  });
  console.log(`registry listening on ${registry.url} (try: curl ${registry.url}/v2/)`);
  const shutdown = () => {
    void registry.stop().then(() => process.exit(0));
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
