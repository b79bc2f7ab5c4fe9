/**
 * `npm test`'s jest part: every tier (jest project, jest.config.js) in turn, fastest first, each
 * with its time, then one line per tier. Runs them all even when one fails, and exits 1 if any did.
 * `npm run test:<tier>` runs one. `--forceExit`: a tier whose setup failed half-way may leave a
 * started stack's processes holding the event loop; the run must still end (the servers end with it).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const TIERS = ['unit', 'infra', 'integration', 'clients', 'conformance'];
const JEST = join(__dirname, '..', 'node_modules', 'jest', 'bin', 'jest.js');

const results = TIERS.map((tier) => {
  const started = Date.now();
  process.stdout.write(`\n== tier ${tier}\n`);
  const run = spawnSync(
    process.execPath,
    [JEST, '--runInBand', '--forceExit', '--selectProjects', tier, ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  );
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(`== tier ${tier}: ${run.status === 0 ? 'passed' : 'FAILED'} in ${seconds.toFixed(0)} s\n`);
  return { tier, ok: run.status === 0, seconds };
});
process.stdout.write('\ntiers:\n');
for (const r of results)
  process.stdout.write(`  ${r.tier.padEnd(12)} ${r.ok ? 'passed' : 'FAILED'} ${r.seconds.toFixed(0).padStart(5)} s\n`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
