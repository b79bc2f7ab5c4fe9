import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { FunctionGroup } from '../../lambda/config/routes';
import { RegistryStack, type RegistryStackProps } from '../../lib/registry-stack';

const ROOT = join(__dirname, '..', '..');
/** The feature flags `cdk synth` runs with, so tests check the template that gets deployed. */
const CDK_CONTEXT = (JSON.parse(readFileSync(join(ROOT, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> })
  .context;

export interface SynthOptions {
  /** Run esbuild for real (a few seconds); otherwise asset bundling is skipped. */
  readonly bundle?: boolean;
  /** Register cdk-nag's AwsSolutions checks, as `bin/registry.ts` does. */
  readonly nag?: boolean;
  /** Extra resources to add to the stack before synthesis. */
  readonly extend?: (stack: RegistryStack) => void;
}

export interface Synthesized {
  readonly app: App;
  readonly stack: RegistryStack;
  readonly template: Template;
  /** Removes the temporary cloud assembly. */
  readonly dispose: () => void;
}

/** Builds and synthesizes one registry stack in its own app and temporary output directory. */
export function synthRegistry(props: RegistryStackProps = {}, options: SynthOptions = {}): Synthesized {
  const app = new App({
    context: { ...CDK_CONTEXT, ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }) },
  });
  const dispose = () => rmSync(app.outdir, { recursive: true, force: true });
  try {
    const stack = new RegistryStack(app, 'Registry', {
      env: { account: '111111111111', region: 'eu-west-1' },
      // Most template tests look at the open registry; the ones about access control say so.
      auth: { mode: 'none' },
      ...props,
    });
    options.extend?.(stack);
    if (options.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    return { app, stack, template: Template.fromStack(stack), dispose };
  } catch (err) {
    dispose();
    throw err;
  }
}

/** A policy validation violation as written to the cloud assembly's report. */
export interface Violation {
  readonly ruleName: string;
  readonly severity: string;
  readonly paths: string[];
}

/** Every violation any validation plugin reported (acknowledged ones are not included). */
export function violations(app: App): Violation[] {
  const report = JSON.parse(readFileSync(join(app.outdir, 'validation-report.json'), 'utf8')) as {
    pluginReports: {
      violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
    }[];
  };
  return report.pluginReports.flatMap((p) =>
    p.violations.map((v) => ({
      ruleName: v.ruleName,
      severity: v.severity,
      paths: v.violatingConstructs.map((c) => c.constructPath),
    })),
  );
}

/** Every acknowledged rule in the app, as `<rule id> @ <construct path>`. */
export function acknowledgements(s: Synthesized): string[] {
  return s.app.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        // aws-cdk-lib records un-namespaced ids as `Annotation::<id>`; cdk-nag matches them without it.
        .flatMap((m) =>
          Object.keys(m.data as Record<string, string>).map(
            (id) => `${id.replace(/^annotation::/i, '')} @ ${c.node.path}`,
          ),
        ),
    )
    .sort();
}

/** The logical id of a construct's CloudFormation resource in its stack. */
export function logicalId(construct: IConstruct): string {
  return Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement);
}

/** The logical id of a group's function. */
export function functionId(stack: RegistryStack, group: FunctionGroup): string {
  return logicalId(stack.functions.byGroup[group]);
}

type Json = Record<string, unknown>;

/**
 * A role's allowed grants as `<action> <resource>` strings, resources named by what they are:
 * `bucket:<prefix>`, `table`, `accounts`, `key:<generation>`, `logs`. Exact sets are easy to read and fail on any addition.
 */
export function grantsOf(stack: RegistryStack, template: Template, group: FunctionGroup): string[] {
  const fn = template.findResources('AWS::Lambda::Function')[functionId(stack, group)] as Json;
  const roleId = ((fn.Properties as Json).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  return grantsOfRole(stack, template, roleId);
}

/** `grantsOf` for any role, by its logical id. */
export function grantsOfRole(stack: RegistryStack, template: Template, roleId: string): string[] {
  const access = stack.accessControl;
  const ids: Ids = {
    bucket: logicalId(stack.storage.bucket),
    table: logicalId(stack.storage.table),
    accounts: access ? logicalId(access.accountsTable) : undefined,
    // Keys are named by their generation: `key:<generation>`.
    keys: new Map((access?.signingKeys ?? []).map((k) => [logicalId(k), k.node.id.replace(/^TokenSigningKey/, '')])),
    logGroups: new Set(Object.keys(template.findResources('AWS::Logs::LogGroup'))),
  };
  const grants = new Set<string>();
  for (const policy of Object.values(template.findResources('AWS::IAM::Policy')) as Json[]) {
    const props = policy.Properties as { Roles: unknown[]; PolicyDocument: { Statement: Statement[] } };
    if (!props.Roles.some((r) => JSON.stringify(r) === JSON.stringify({ Ref: roleId }))) continue;
    for (const s of props.PolicyDocument.Statement) {
      if (s.Effect !== 'Allow') continue;
      for (const action of list(s.Action)) for (const r of list(s.Resource)) grants.add(`${action} ${name(r, ids)}`);
    }
  }
  return [...grants].sort();
}

/** Every Allow statement of every identity policy in the template. */
export function allowStatements(template: Template): Statement[] {
  return (Object.values(template.findResources('AWS::IAM::Policy')) as Json[]).flatMap((p) =>
    (p.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument.Statement.filter(
      (s) => s.Effect === 'Allow',
    ),
  );
}

export interface Statement {
  readonly Effect: string;
  readonly Action: string | string[];
  readonly Resource: unknown;
}

function list<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

interface Ids {
  readonly bucket: string;
  readonly table: string;
  readonly accounts?: string;
  readonly keys: Map<string, string>;
  readonly logGroups: Set<string>;
}

function name(resource: unknown, ids: Ids): string {
  const text = JSON.stringify(resource);
  const getAtt = (resource as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt']?.[0];
  if (getAtt === ids.table) return 'table';
  if (getAtt !== undefined && getAtt === ids.accounts) return 'accounts';
  if (getAtt !== undefined && ids.keys.has(getAtt)) return `key:${ids.keys.get(getAtt)}`;
  if (getAtt !== undefined && ids.logGroups.has(getAtt)) return 'logs';
  const prefix = /^\{"Fn::Join":\["",\[\{"Fn::GetAtt":\["([^"]+)","Arn"\]\},"\/([^"]*)"\]\]\}$/.exec(text);
  if (prefix?.[1] === ids.bucket) return `bucket:${prefix[2]}`;
  // An index of the metadata table: `table/index/<name>`.
  if (prefix?.[1] === ids.table) return `table/${prefix[2]}`;
  return text;
}

/** What the upload endpoints call (lambda/core/services/upload-service.ts, part-writer.ts, blob-service.ts mount). */
export const UPLOAD_GRANTS = [
  'dynamodb:DeleteItem table',
  'dynamodb:GetItem table',
  'dynamodb:PutItem table',
  'dynamodb:UpdateItem table',
  's3:AbortMultipartUpload bucket:blobs/assembled/*',
  's3:DeleteObject bucket:blobs/assembled/*',
  's3:DeleteObject bucket:uploads/*',
  's3:GetObject bucket:blobs/assembled/*',
  's3:GetObject bucket:uploads/*',
  's3:ListMultipartUploadParts bucket:blobs/assembled/*',
  's3:PutObject bucket:blobs/*',
  's3:PutObject bucket:uploads/*',
];

/** Every function writes to its own log group. */
export const LOGS = ['logs:CreateLogStream logs', 'logs:PutLogEvents logs'];

/**
 * Exactly what each endpoint group's calls need in the default stack, besides its logs
 * (docs/storage.md, "Access patterns"); access control and events add to these.
 */
export const DEFAULT_GRANTS: Record<FunctionGroup, string[]> = {
  // GET /health and the mode it reports: GetItem limited to the health and the mode partitions
  // (test/infra/observability.test.ts checks the conditions, and the mode's for blobs and manifests).
  base: ['dynamodb:GetItem table'],
  // Uploads, plus reading blobs (the role signs the presigned GET URLs); the maintenance mode is an
  // item of the table, whose GetItem the uploads have.
  blobs: [...UPLOAD_GRANTS, 's3:GetObject bucket:blobs/*'],
  manifests: [
    'dynamodb:BatchGetItem table',
    'dynamodb:DeleteItem table',
    'dynamodb:GetItem table',
    'dynamodb:PutItem table',
    'dynamodb:Query table',
    'dynamodb:UpdateItem table',
    's3:GetObject bucket:manifests/*',
    's3:PutObject bucket:manifests/*',
  ],
  discovery: ['dynamodb:Query table'],
  // Answers 404 unless auth mode is token (test/infra/auth.test.ts has its grants there).
  token: [],
};

/**
 * `synthRegistry` for a test file or describe block: every stack it makes is disposed after the
 * block. Call it where `afterAll` may be called.
 */
export function disposingSynth(): typeof synthRegistry {
  const made: Synthesized[] = [];
  afterAll(() => made.forEach((s) => s.dispose()));
  return (...args) => {
    const s = synthRegistry(...args);
    made.push(s);
    return s;
  };
}
