import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PolicyStatement } from '../iam/policy';
import {
  IntrinsicResolver,
  TemplateError,
  type LocalResource,
  type Template,
  type TemplateResource,
} from './intrinsics';

/**
 * What local mode runs, read from the synthesized template and nothing else: the functions with
 * their bundles, handlers, limits, environment and roles; the API's routes; the upload data path's
 * container and the paths CloudFront sends to it; the stateful resources to create; the schedules.
 */
export interface StackModel {
  readonly stackName: string;
  readonly functions: readonly FunctionModel[];
  /** HTTP API routes: route key path (or `$default`) → function logical id. */
  readonly routes: readonly { readonly path: string; readonly functionId: string }[];
  readonly uploader?: UploaderModel;
  readonly tables: readonly { readonly name: string; readonly properties: Readonly<Record<string, unknown>> }[];
  readonly buckets: readonly string[];
  readonly keys: readonly { readonly id: string; readonly arn: string; readonly keySpec: string }[];
  readonly schedules: readonly { readonly functionId: string; readonly expression: string }[];
}

export interface RoleModel {
  readonly name: string;
  readonly arn: string;
  /** Every statement of the role's identity policies (inline and attached AWS::IAM::Policy). */
  readonly statements: readonly PolicyStatement[];
}

export interface FunctionModel {
  readonly logicalId: string;
  readonly name: string;
  /** What `Fn::GetAtt <function>.Arn` gives, and the context's `invokedFunctionArn`. */
  readonly arn: string;
  /** `index.handler`. */
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The bundle's directory in the cloud assembly (`…/asset.<hash>`). */
  readonly codeDir: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly role: RoleModel;
}

export interface UploaderModel {
  /** The image's build context as staged in the assembly, and its Dockerfile. */
  readonly contextDir: string;
  readonly dockerfile: string;
  readonly environment: Readonly<Record<string, string>>;
  readonly role: RoleModel;
  /** CloudFront path patterns whose origin is the uploader's load balancer. */
  readonly pathPatterns: readonly string[];
}

export interface LocalNames {
  /** Physical names are `<prefix>-<logical id>`, so stacks sharing servers never collide. */
  readonly prefix: string;
  readonly region: string;
  readonly account: string;
  /** `localhost:<port>`: what the distribution's and the API's domain names stand for. */
  readonly publicHost: string;
}

const PARTITION = 'aws';

/** Reads the stack `stackName` of the cloud assembly in `assemblyDir`. */
export function loadStackModel(
  assemblyDir: string,
  stackName: string,
  names: LocalNames,
  edit?: (template: Template) => void,
): StackModel {
  const template = JSON.parse(readFileSync(join(assemblyDir, `${stackName}.template.json`), 'utf8')) as Template;
  // Tests deploy a changed template (a grant removed) to see what the change does.
  edit?.(template);
  const assets = JSON.parse(readFileSync(join(assemblyDir, `${stackName}.assets.json`), 'utf8')) as {
    dockerImages?: Record<string, { source: { directory: string; dockerFile?: string } }>;
    files?: Record<string, { source: { path: string; packaging?: string } }>;
  };
  const { region, account } = names;
  const physical = (id: string) => `${names.prefix}-${id}`;
  const arn = (service: string, resource: string, regional = true) =>
    `arn:${PARTITION}:${service}:${regional ? region : ''}:${regional ? account : ''}:${resource}`;
  const keyId = (id: string) => {
    const h = createHash('sha256').update(physical(id)).digest('hex');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  };

  const localResource = (id: string): LocalResource => {
    const resource = template.Resources[id] as TemplateResource | undefined;
    if (!resource) throw new TemplateError(`unknown resource ${id}`);
    const props = resource.Properties ?? {};
    const name = physical(id);
    switch (resource.Type) {
      case 'AWS::DynamoDB::GlobalTable':
      case 'AWS::DynamoDB::Table': {
        const table = typeof props.TableName === 'string' ? props.TableName : name;
        return { ref: table, attributes: { Arn: arn('dynamodb', `table/${table}`) } };
      }
      case 'AWS::S3::Bucket': {
        const bucket = name.toLowerCase().slice(0, 63);
        return {
          ref: bucket,
          attributes: {
            Arn: `arn:${PARTITION}:s3:::${bucket}`,
            DomainName: `${bucket}.s3.amazonaws.com`,
            RegionalDomainName: `${bucket}.s3.${region}.amazonaws.com`,
          },
        };
      }
      case 'AWS::IAM::Role':
        return { ref: name, attributes: { Arn: `arn:${PARTITION}:iam::${account}:role/${name}`, RoleId: name } };
      case 'AWS::KMS::Key': {
        const key = keyId(id);
        return { ref: key, attributes: { Arn: arn('kms', `key/${key}`), KeyId: key } };
      }
      case 'AWS::Lambda::Function':
        return { ref: name, attributes: { Arn: arn('lambda', `function:${name}`) } };
      case 'AWS::Logs::LogGroup':
        return { ref: name, attributes: { Arn: arn('logs', `log-group:${name}:*`) } };
      case 'AWS::Events::EventBus':
        return { ref: name, attributes: { Arn: arn('events', `event-bus/${name}`), Name: name } };
      case 'AWS::SQS::Queue':
        return {
          ref: `http://sqs.local/${account}/${name}`,
          attributes: { Arn: arn('sqs', name), QueueName: name, QueueUrl: `http://sqs.local/${account}/${name}` },
        };
      case 'AWS::CloudFront::Distribution':
        return { ref: name, attributes: { DomainName: names.publicHost, Id: name } };
      case 'AWS::ApiGatewayV2::Api':
        return { ref: name, attributes: { ApiEndpoint: `http://${names.publicHost}`, ApiId: name } };
      case 'AWS::ElasticLoadBalancingV2::LoadBalancer':
        return { ref: arn('elasticloadbalancing', `loadbalancer/app/${name}`), attributes: { DNSName: name } };
      default:
        return { ref: name };
    }
  };
  const resolver = new IntrinsicResolver(template, {
    region,
    account,
    partition: PARTITION,
    stackName,
    urlSuffix: 'amazonaws.com',
    resource: localResource,
  });
  const of = (type: string) => Object.entries(template.Resources).filter(([, r]) => r.Type === type);
  const refId = (value: unknown, where: string): string => {
    const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
    const id = v.Ref ?? v['Fn::GetAtt']?.[0];
    if (!id) throw new TemplateError(`${where}: expected a Ref or Fn::GetAtt, got ${JSON.stringify(value)}`);
    return id;
  };
  const environment = (vars: Record<string, unknown>, where: string) =>
    Object.fromEntries(
      Object.entries(vars).map(([k, v]) => [k, plainHttp(resolver.string(v, `${where} ${k}`), names.publicHost)]),
    );

  const roles = new Map<string, RoleModel>();
  const attached = new Map<string, PolicyStatement[]>();
  for (const [id, policy] of of('AWS::IAM::Policy')) {
    const props = policy.Properties ?? {};
    const statements = statementsOf(resolver.resolve(props.PolicyDocument), `${id}`);
    for (const role of (props.Roles as unknown[] | undefined) ?? []) {
      const roleId = refId(role, id);
      attached.set(roleId, [...(attached.get(roleId) ?? []), ...statements]);
    }
  }
  const role = (value: unknown, where: string): RoleModel => {
    const id = refId(value, where);
    const found = roles.get(id);
    if (found) return found;
    const props = template.Resources[id]?.Properties ?? {};
    if ((props.ManagedPolicyArns as unknown[] | undefined)?.length) {
      throw new TemplateError(`role ${id} has managed policies, which the local stack cannot read`);
    }
    const inline = ((props.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).flatMap((p) =>
      statementsOf(resolver.resolve(p.PolicyDocument), id),
    );
    const local = localResource(id);
    const model = {
      name: local.ref,
      arn: local.attributes?.Arn as string,
      statements: [...inline, ...(attached.get(id) ?? [])],
    };
    roles.set(id, model);
    return model;
  };

  // Custom resource providers run while CloudFormation deploys (here: the VPC's default security
  // group), never for a request: their part has no local meaning.
  const providers = new Set(
    Object.values(template.Resources)
      .filter((r) => r.Type.startsWith('Custom::') || r.Type === 'AWS::CloudFormation::CustomResource')
      .map((r) => refId(r.Properties?.ServiceToken, 'custom resource')),
  );
  const functions = of('AWS::Lambda::Function')
    .filter(([id]) => !providers.has(id))
    .map(([id, r]): FunctionModel => {
      const props = r.Properties ?? {};
      // The code's S3 key is `<asset hash>.zip`; the assets manifest says where that asset was staged.
      const key = String((props.Code as { S3Key?: unknown } | undefined)?.S3Key ?? '');
      const assetPath = assets.files?.[key.replace(/\.zip$/, '')]?.source.path;
      if (!assetPath) throw new TemplateError(`function ${id}: its code ${key} is no asset of the assembly`);
      const codeDir = join(assemblyDir, assetPath);
      if (!existsSync(codeDir)) throw new TemplateError(`function ${id}: ${codeDir} is missing from the assembly`);
      return {
        logicalId: id,
        name: localResource(id).ref,
        arn: localResource(id).attributes?.Arn as string,
        handler: String(props.Handler),
        timeoutSeconds: Number(props.Timeout ?? 3),
        memoryMb: Number(props.MemorySize ?? 128),
        codeDir,
        environment: environment(
          ((props.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {}) as Record<
            string,
            unknown
          >,
          `function ${id}`,
        ),
        role: role(props.Role, `function ${id}`),
      };
    });

  const integrations = new Map(
    of('AWS::ApiGatewayV2::Integration').map(([id, r]) => [
      localResource(id).ref,
      refId(r.Properties?.IntegrationUri, id),
    ]),
  );
  const routes = of('AWS::ApiGatewayV2::Route').map(([id, r]) => {
    const props = r.Properties ?? {};
    const key = String(props.RouteKey);
    const target = resolver.string(props.Target, `route ${id}`);
    const integration = target.replace(/^integrations\//, '');
    const functionId = integrations.get(integration);
    if (!functionId) throw new TemplateError(`route ${id} targets ${target}, which is no Lambda integration`);
    const [method, path] = key === '$default' ? ['ANY', '$default'] : key.split(' ');
    if (method !== 'ANY') throw new TemplateError(`route ${id}: only ANY routes are served locally, got ${key}`);
    return { path: path as string, functionId };
  });

  return {
    stackName,
    functions,
    routes,
    uploader: uploaderOf(template, assemblyDir, assets.dockerImages ?? {}, resolver, role, environment),
    tables: [...of('AWS::DynamoDB::GlobalTable'), ...of('AWS::DynamoDB::Table')].map(([id, r]) => ({
      name: localResource(id).ref,
      properties: r.Properties ?? {},
    })),
    buckets: of('AWS::S3::Bucket').map(([id]) => localResource(id).ref),
    keys: of('AWS::KMS::Key').map(([id, r]) => ({
      id: localResource(id).ref,
      arn: localResource(id).attributes?.Arn as string,
      keySpec: String(r.Properties?.KeySpec ?? 'SYMMETRIC_DEFAULT'),
    })),
    schedules: of('AWS::Events::Rule').flatMap(([id, r]) => {
      const props = r.Properties ?? {};
      if (typeof props.ScheduleExpression !== 'string' || props.State === 'DISABLED') return [];
      return ((props.Targets as { Arn: unknown }[] | undefined) ?? []).map((t) => ({
        functionId: refId(t.Arn, id),
        expression: props.ScheduleExpression as string,
      }));
    }),
  };
}

function uploaderOf(
  template: Template,
  assemblyDir: string,
  images: Record<string, { source: { directory: string; dockerFile?: string } }>,
  resolver: IntrinsicResolver,
  role: (value: unknown, where: string) => RoleModel,
  environment: (vars: Record<string, unknown>, where: string) => Record<string, string>,
): UploaderModel | undefined {
  const tasks = Object.entries(template.Resources).filter(([, r]) => r.Type === 'AWS::ECS::TaskDefinition');
  if (tasks.length === 0) return undefined;
  if (tasks.length > 1) throw new TemplateError('the local stack runs one container task definition, found more');
  const [id, task] = tasks[0] as [string, TemplateResource];
  const containers = (task.Properties?.ContainerDefinitions ?? []) as {
    Environment?: { Name: string; Value: unknown }[];
    Image: unknown;
  }[];
  const container = containers[0];
  if (!container || containers.length !== 1) throw new TemplateError(`${id}: expected one container`);
  const image = resolver.string(container.Image, `${id} image`);
  const hash = image.split(':').pop() ?? '';
  const source = images[hash]?.source;
  if (!source) throw new TemplateError(`${id}: image ${image} is no asset of the assembly`);
  const distribution = Object.values(template.Resources).find((r) => r.Type === 'AWS::CloudFront::Distribution');
  const config = (distribution?.Properties?.DistributionConfig ?? {}) as {
    CacheBehaviors?: { PathPattern: string; TargetOriginId: string }[];
    Origins?: { Id: string; VpcOriginConfig?: unknown }[];
  };
  const uploaderOrigins = new Set((config.Origins ?? []).filter((o) => o.VpcOriginConfig).map((o) => o.Id));
  return {
    contextDir: join(assemblyDir, source.directory),
    dockerfile: source.dockerFile ?? 'Dockerfile',
    environment: environment(
      Object.fromEntries((container.Environment ?? []).map((e) => [e.Name, e.Value])),
      `container of ${id}`,
    ),
    role: role(task.Properties?.TaskRoleArn, `${id} task role`),
    pathPatterns: (config.CacheBehaviors ?? [])
      .filter((b) => uploaderOrigins.has(b.TargetOriginId))
      .map((b) => b.PathPattern),
  };
}

function statementsOf(document: unknown, where: string): PolicyStatement[] {
  const statements = (document as { Statement?: unknown } | undefined)?.Statement;
  if (!Array.isArray(statements)) throw new TemplateError(`${where}: policy document without statements`);
  return statements as PolicyStatement[];
}

/**
 * TLS ends at CloudFront and API Gateway; local mode serves plain HTTP on its own host, so the
 * public URL the template writes as `https://<distribution>` is the local gateway's `http://` URL.
 */
function plainHttp(value: string, publicHost: string): string {
  return value.split(`https://${publicHost}`).join(`http://${publicHost}`);
}
