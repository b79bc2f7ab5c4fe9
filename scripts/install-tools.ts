import { ensureClients, ensureConformance, ensureMoto, ensureTools } from '../tools/local/tools';

/**
 * Installs the pinned servers and test tools into .tools/ (idempotent): both S3 servers (the test
 * suite runs on versitygw, local mode on S3Proxy), the conformance suite, the Go clients and moto.
 */
async function main(): Promise<void> {
  const log = (line: string) => console.log(line);
  const tests = await ensureTools(log, 'versitygw');
  const local = await ensureTools(log, 's3proxy');
  const conformance = ensureConformance(log);
  const clients = ensureClients(log);
  const moto = ensureMoto(log);
  console.log(`tools ready: ${JSON.stringify({ tests, local, conformance, ...clients, moto })}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
