import { LIFECYCLE_DEFAULTS, parseNotPulledDays, parseRules } from '../../lambda/config/lifecycle';
import { systemClock, type Clock } from '../../lambda/core/ports/clock';
import type { RegistryPolicy } from '../../lambda/core/policy';
import { CliError, UsageError, type CliValues } from './cli-support';
import { storageTarget } from './uploads-cli';

/**
 * The admin CLI's `gc`, `du`, `verify` and `policy` commands (declared in admin-cli.ts, loaded only
 * when one runs), against local mode or a deployed stack's table and bucket.
 */

const print = (value: unknown) => console.log(typeof value === 'string' ? value : JSON.stringify(value, null, 2));

/** A progress bar on a terminal (stderr), nothing otherwise. */
function progressBar(label: string): { update(done: number, total: number, detail?: string): void; end(): void } {
  if (!process.stderr.isTTY) return { update: () => {}, end: () => {} };
  let last = 0;
  return {
    update(done, total, detail = '') {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const width = 30;
      const filled = total === 0 ? width : Math.round((done / total) * width);
      process.stderr.write(
        `\r${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total} ${detail}   `,
      );
    },
    end() {
      process.stderr.write('\n');
    },
  };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

async function target(values: CliValues) {
  const t = await storageTarget(values);
  const { DynamoDbGcStore } = await import('../../lambda/adapters/dynamodb/dynamodb-gc-store');
  const { DynamoDbPolicyStore } = await import('../../lambda/adapters/dynamodb/dynamodb-policy-store');
  const { S3BlobStore } = await import('../../lambda/adapters/s3/s3-blob-store');
  return {
    ...t,
    gc: new DynamoDbGcStore(t.clients.dynamodb, t.table),
    policies: new DynamoDbPolicyStore(t.clients.dynamodb, t.table),
    store: new S3BlobStore({ client: t.clients.s3, bucket: t.bucket }),
  };
}

/** `gc [--dry-run] [--grace-hours <h>]`: one collection now (on `clock`), as the schedule runs it. */
export async function runGc(values: CliValues, clock: Clock = systemClock): Promise<void> {
  const t = await target(values);
  const graceHours = values['grace-hours'] !== undefined ? Number(values['grace-hours']) : undefined;
  if (graceHours !== undefined && (!Number.isFinite(graceHours) || graceHours < 1)) {
    throw new UsageError('--grace-hours must be at least 1: a push needs that long between its blobs and its manifest');
  }
  const { composeGarbageCollector } = await import('../../lambda/handlers/compose');
  const lifecycle = {
    ...LIFECYCLE_DEFAULTS,
    ...(graceHours !== undefined ? { gcGraceSeconds: Math.round(graceHours * 3600) } : {}),
  };
  const collector = await composeGarbageCollector(
    { bucket: t.bucket, table: t.table, s3ForcePathStyle: true, lifecycle },
    t.clients,
    clock,
  );
  const bar = progressBar(values['dry-run'] ? 'gc (dry run)' : 'gc');
  const report = await collector.run({
    dryRun: Boolean(values['dry-run']),
    progress: (phase, done, total) => bar.update(done, total, phase),
  });
  bar.end();
  if (values.json) return print(report);
  const verb = report.dryRun ? 'would remove' : 'removed';
  print(
    `${t.where}: ${verb} ${report.tags} tag(s), ${report.manifests} manifest(s), ${report.links} link(s), ` +
      `${report.blobs} blob(s) and ${report.objects} unreferenced object(s): ${formatBytes(report.bytes)}` +
      (report.skipped ? `; ${report.skipped} kept because a push touched them meanwhile` : ''),
  );
  if (report.notPulled.length === 0) return;
  print(`not pulled for the policy's days (${report.dryRun ? 'would go' : 'removed'}):`);
  for (const m of report.notPulled) {
    const last = m.lastPulled
      ? `last pulled ${m.lastPulled}`
      : `never pulled, pushed ${m.pushedAt ?? 'before push times were kept'}`;
    print(`  ${m.repository}@${m.digest}  ${last}${m.tags.length ? `  tags: ${m.tags.join(', ')}` : ''}`);
  }
}

/** `du [--json]`: bytes per repository. */
export async function runDu(values: CliValues): Promise<void> {
  const t = await target(values);
  const { StorageAudit } = await import('../../lambda/core/services/storage-audit');
  const usage = await new StorageAudit(t.gc, t.store).usage();
  if (values.json) return print(usage);
  const rows = usage.map((u) => [
    u.repository,
    String(u.tags),
    String(u.manifests),
    String(u.blobs),
    formatBytes(u.bytes),
    formatBytes(u.exclusiveBytes),
  ]);
  const header = ['REPOSITORY', 'TAGS', 'MANIFESTS', 'BLOBS', 'SIZE', 'EXCLUSIVE'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows])
    print(
      row
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}

/** `verify [--sample <n>] [--json]`: re-hash stored blobs; exit 1 on any mismatch. */
export async function runVerify(values: CliValues): Promise<void> {
  const sample = values.sample !== undefined ? Number(values.sample) : undefined;
  if (sample !== undefined && (!Number.isInteger(sample) || sample < 1))
    throw new UsageError('--sample must be a positive whole number');
  const t = await target(values);
  const { StorageAudit } = await import('../../lambda/core/services/storage-audit');
  const bar = progressBar('verify');
  const report = await new StorageAudit(t.gc, t.store).verify({
    ...(sample !== undefined ? { sample } : {}),
    progress: (done, total, bytes) => bar.update(done, total, formatBytes(bytes)),
  });
  bar.end();
  if (values.json) print(report);
  else {
    print(
      `${t.where}: ${report.checked} blob(s), ${formatBytes(report.bytes)} re-hashed; ${report.mismatches.length} mismatch(es)`,
    );
    for (const m of report.mismatches) print(`  ${m.digest} (${m.key}): ${m.problem}`);
  }
  if (report.mismatches.length > 0) throw new CliError(`${report.mismatches.length} blob(s) do not match their digest`);
}

/** `policy show` and `policy set`: the stored additions to the lifecycle policy. */
export async function runPolicy(action: 'show' | 'set', values: CliValues): Promise<void> {
  const t = await target(values);
  if (action === 'show') {
    const stored = (await t.policies.get()) ?? {};
    return print(values.json ? stored : describe(stored));
  }
  const update: { -readonly [K in keyof RegistryPolicy]?: RegistryPolicy[K] } = { ...((await t.policies.get()) ?? {}) };
  try {
    if (typeof values.immutable === 'string') {
      update.immutableTags = parseRules(values.immutable).map(({ repository, tag }) => ({ repository, tag }));
    }
    if (typeof values.retention === 'string') {
      update.tagRetention = parseRules(values.retention).map((r) => {
        if (r.keepLast === undefined) throw new Error(`"${r.repository}:${r.tag}" needs =<keep last>`);
        return { repository: r.repository, tag: r.tag, keepLast: r.keepLast };
      });
    }
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (typeof values['untagged-days'] === 'string') {
    const raw = values['untagged-days'];
    const days = raw === 'never' ? null : Number(raw);
    if (days !== null && (!Number.isInteger(days) || days < 0))
      throw new UsageError('--untagged-days takes a number of days or "never"');
    update.untaggedRetentionDays = days;
  }
  if (typeof values['not-pulled-days'] === 'string') {
    try {
      update.notPulledForDays = parseNotPulledDays(values['not-pulled-days']);
    } catch (err) {
      throw new UsageError(`--not-pulled-days takes ${(err as Error).message}`);
    }
  }
  await t.policies.put(update);
  print(
    `${t.where}: stored policy is now\n${describe(update)}\n(applies within a minute; the stack's own rules apply as well)`,
  );
}

function describe(policy: Partial<RegistryPolicy>): string {
  const lines = [
    `immutable tags: ${(policy.immutableTags ?? []).map((r) => `${r.repository}:${r.tag}`).join(', ') || '(none)'}`,
    `tag retention:  ${(policy.tagRetention ?? []).map((r) => `${r.repository}:${r.tag}=${r.keepLast}`).join(', ') || '(none)'}`,
    `untagged kept:  ${
      policy.untaggedRetentionDays === undefined
        ? "(the stack's setting)"
        : policy.untaggedRetentionDays === null
          ? 'forever'
          : `${policy.untaggedRetentionDays} day(s)`
    }`,
    `not pulled for: ${
      policy.notPulledForDays === undefined
        ? "(the stack's setting)"
        : policy.notPulledForDays === null
          ? 'off'
          : `${policy.notPulledForDays} day(s): manifests neither pulled nor pushed that long go`
    }`,
  ];
  return lines.join('\n');
}
