#!/usr/bin/env -S node --import tsx
import '../tools/quiet-warnings';
import { parseArgs } from 'node:util';
import { AdminError } from '../lambda/core/services/account-admin';
import { COMMANDS, openAdmin, type AdminTarget, type CliOption } from '../tools/admin/admin-cli';
import { CliError, UsageError, type CliValues } from '../tools/admin/cli-support';
import { defaultDataDir } from '../tools/local/endpoints-file';

/**
 * The admin CLI: users, their access rules and robot tokens, in the accounts table of local mode
 * (`--local`, while `npm start` runs) or of a deployed stack (`--table`). Exit codes: 0 done,
 * 1 refused or failed (one line on stderr), 2 usage error.
 */
const PROGRAM = 'serverless-oci-registry';

const TARGET: Record<string, CliOption> = {
  local: { type: 'boolean', help: 'the registry `npm start` runs (found through <data-dir>/local-endpoints.json)' },
  'data-dir': {
    type: 'string',
    value: '<dir>',
    help: "local mode's data directory (default $REGISTRY_DATA_DIR, else .registry-data)",
  },
  table: {
    type: 'string',
    value: '<table>',
    help:
      "a deployed stack's accounts table, from its outputs (default $REGISTRY_ACCOUNTS_TABLE); " +
      'region, credentials and AWS_ENDPOINT_URL come from the environment',
  },
};
const HELP: Record<string, CliOption> = { help: { type: 'boolean', short: 'h', help: 'show this help' } };

function optionLines(options: Record<string, CliOption>): string[] {
  const rows = Object.entries(options).map(([name, o]) => [
    `  ${o.short ? `-${o.short}, ` : ''}--${name}${o.value ? ` ${o.value}` : ''}`,
    o.help,
  ]);
  const width = Math.max(...rows.map(([flag]) => flag!.length)) + 2;
  return rows.map(([flag, help]) => flag!.padEnd(width) + help);
}

function wrap(text: string, width = 100): string {
  return text.replace(new RegExp(`(.{1,${width}})(?: |$)`, 'g'), '$1\n').trimEnd();
}

/** The target lines of a command's help; none for a command on the HTTP API, whose URL is an argument. */
function targetHelp(command: (typeof COMMANDS)[string], accounts: string[]): string[] {
  if (command.http) return [];
  if (!command.storage) return ['', ...accounts];
  return [
    '',
    `Target (one is required): ${command.targetHelp ?? '--metadata-table and --bucket above'}, or`,
    ...optionLines({ local: TARGET.local!, 'data-dir': TARGET['data-dir']! }),
  ];
}

/** Help for one command, a group (`user`, `token`) or everything. */
function help(prefix?: string): string {
  const target = ['Target (one is required):', ...optionLines(TARGET)];
  const command = prefix !== undefined ? COMMANDS[prefix] : undefined;
  if (command) {
    const summary = command.summary.charAt(0).toUpperCase() + command.summary.slice(1) + '.';
    return [
      `Usage: ${PROGRAM} ${prefix} ${[...command.args, '[options]'].join(' ')}`,
      '',
      wrap(command.details ? `${summary} ${command.details}` : summary),
      '',
      'Options:',
      ...optionLines({ ...command.options, ...HELP }),
      ...targetHelp(command, target),
    ].join('\n');
  }
  const listed = Object.entries(COMMANDS).filter(([name]) => prefix === undefined || name.startsWith(`${prefix} `));
  const usages = listed.map(([name, c]) => [name, ...c.args].join(' '));
  const width = Math.max(...usages.map((u) => u.length)) + 4;
  return [
    `Usage: ${PROGRAM} ${prefix ? `${prefix} <command>` : '<command>'} [options] (--local | --table <table>)`,
    '',
    "Manages a registry's users, access rules and robot tokens, and runs its housekeeping: garbage collection, " +
      'storage audits, upload purges, the lifecycle policy and maintenance mode. Storage commands take --local or ' +
      '--metadata-table and --bucket; maintenance takes --local or --metadata-table; smoke tests a running registry ' +
      'at the URL given.',
    '',
    'Commands:',
    ...listed.map(([, c], i) => `  ${usages[i]!.padEnd(width)}${c.summary}`),
    '',
    ...target,
    '',
    `Run "${PROGRAM} <command> --help" for a command's options.`,
  ].join('\n');
}

function target(values: CliValues): AdminTarget {
  const table = typeof values.table === 'string' ? values.table : undefined;
  if (values.local && table) throw new UsageError('use either --local or --table, not both');
  if (values['data-dir'] !== undefined && !values.local) throw new UsageError('--data-dir goes with --local');
  if (values.local) return { kind: 'local', dataDir: String(values['data-dir'] ?? defaultDataDir()) };
  const name = table ?? process.env.REGISTRY_ACCOUNTS_TABLE;
  if (name) return { kind: 'table', table: name };
  throw new UsageError('which registry? --local (while npm start runs) or --table <accounts table of a stack>');
}

/** The command a command line names (`user add`), and where its arguments start. */
function commandOf(positionals: string[]): { name?: string; group?: string; rest: string[] } {
  const [first, second] = positionals;
  if (first !== undefined && Object.keys(COMMANDS).some((c) => c.startsWith(`${first} `))) {
    return second === undefined
      ? { group: first, rest: [] }
      : { name: `${first} ${second}`, rest: positionals.slice(2) };
  }
  return { ...(first !== undefined ? { name: first } : {}), rest: positionals.slice(1) };
}

async function main(argv: string[]): Promise<number> {
  const options: Record<string, CliOption> = { ...TARGET, ...HELP };
  for (const c of Object.values(COMMANDS)) Object.assign(options, c.options);
  let name: string | undefined;
  try {
    name = commandOf(parseArgs({ args: argv, options, allowPositionals: true, strict: false }).positionals).name;
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true });
    const { group, rest } = commandOf(positionals);
    if (name === undefined || name === 'help') {
      const topic = group ?? rest.join(' ');
      const isGroup = Object.keys(COMMANDS).some((c) => c.startsWith(`${topic} `));
      const text = help(COMMANDS[topic] || isGroup ? topic : undefined);
      if (values.help || name === 'help') return (console.log(text), 0);
      return (console.error(text), 2);
    }
    const command = COMMANDS[name];
    if (!command) throw new UsageError(`unknown command "${name}"`);
    if (values.help) return (console.log(help(name)), 0);
    if (rest.length !== command.args.length) {
      const wanted = command.args.length > 0 ? command.args.join(' ') : 'no arguments';
      throw new UsageError(`"${name}" takes ${wanted}, got ${rest.length > 0 ? `"${rest.join(' ')}"` : 'none'}`);
    }
    const misplaced = Object.keys(values).find((o) => !(o in command.options || o in TARGET || o in HELP));
    if (misplaced) throw new UsageError(`--${misplaced} does not apply to "${name}"`);
    if (command.http) {
      // The registry's URL is an argument: no table to open, no AWS credentials needed.
      command.check?.(rest, values);
      await command.run(rest, values);
      return 0;
    }
    if (command.storage) {
      // The bucket and metadata table (`uploads purge`): the command finds its own target.
      command.check?.(rest, values);
      await command.run(rest, values);
      return 0;
    }
    const where = target(values);
    command.check?.(rest, values);
    const session = await openAdmin(where);
    try {
      await command.run(session, rest, values).catch((err: unknown) => {
        throw session.explain(err);
      });
    } finally {
      session.close();
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError || String((err as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) {
      console.error(`${PROGRAM}: ${(err as Error).message}`);
      console.error(`Run "${PROGRAM} ${name && COMMANDS[name] ? `${name} ` : ''}--help" for usage.`);
      return 2;
    }
    // Refusals and explained failures as they are; anything else with its class (an SDK error).
    let message = String(err);
    if (err instanceof AdminError || err instanceof CliError) message = err.message;
    else if (err instanceof Error) message = err.name === 'Error' ? err.message : `${err.name}: ${err.message}`;
    console.error(`${PROGRAM}: ${message.split('\n')[0]}`);
    return 1;
  }
}

// Errors are one line on stderr: not the SDK's multi-line notice about its future Node versions.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
