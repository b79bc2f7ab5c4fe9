/**
 * Resolves the CloudFormation intrinsic functions the synthesized template uses (`Ref`,
 * `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, `Fn::Select`, `Fn::Split`, `Fn::If`, `Fn::FindInMap`) to
 * local values, so that environment variables and IAM policies read exactly as deployed, with local
 * names in place of the physical ids CloudFormation would have made.
 */

export type Template = {
  readonly Resources: Readonly<Record<string, TemplateResource>>;
  readonly Conditions?: Readonly<Record<string, unknown>>;
  readonly Mappings?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, unknown>>>>>>;
};

export interface TemplateResource {
  readonly Type: string;
  readonly Properties?: Readonly<Record<string, unknown>>;
  readonly Metadata?: Readonly<Record<string, unknown>>;
}

/** What `Ref` and `Fn::GetAtt` give for a resource, decided by whoever stands in for it. */
export interface LocalResource {
  readonly ref: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface ResolverContext {
  readonly region: string;
  readonly account: string;
  readonly partition: string;
  readonly stackName: string;
  readonly urlSuffix: string;
  /** The local stand-in of a resource, by logical id. */
  resource(logicalId: string): LocalResource;
}

/** Raised for anything the local stack cannot stand in for; names the resource and the expression. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

export class IntrinsicResolver {
  constructor(
    private readonly template: Template,
    private readonly context: ResolverContext,
  ) {}

  /** Resolves every intrinsic inside `value`; plain values pass through. */
  resolve(value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1) {
      const [key, arg] = entries[0] as [string, unknown];
      if (key === 'Ref') return this.ref(String(arg));
      if (key.startsWith('Fn::') || key === 'Condition') return this.fn(key, arg);
    }
    return Object.fromEntries(entries.map(([k, v]) => [k, this.resolve(v)]));
  }

  /** Resolves `value` and insists on a string (environment variables, ARNs). */
  string(value: unknown, where: string): string {
    const resolved = this.resolve(value);
    if (typeof resolved === 'string') return resolved;
    if (typeof resolved === 'number' || typeof resolved === 'boolean') return String(resolved);
    throw new TemplateError(`${where}: expected a string, got ${JSON.stringify(resolved)}`);
  }

  private ref(name: string): string {
    const pseudo: Record<string, string> = {
      'AWS::Region': this.context.region,
      'AWS::AccountId': this.context.account,
      'AWS::Partition': this.context.partition,
      'AWS::StackName': this.context.stackName,
      'AWS::URLSuffix': this.context.urlSuffix,
      'AWS::StackId': `arn:${this.context.partition}:cloudformation:${this.context.region}:${this.context.account}:stack/${this.context.stackName}/local`,
    };
    if (name in pseudo) return pseudo[name] as string;
    if (!this.template.Resources[name]) throw new TemplateError(`Ref to unknown resource ${name}`);
    return this.context.resource(name).ref;
  }

  private fn(key: string, arg: unknown): unknown {
    switch (key) {
      case 'Fn::GetAtt': {
        const [id, attribute] = Array.isArray(arg) ? arg.map(String) : String(arg).split('.');
        const resource = this.context.resource(String(id));
        const value = resource.attributes?.[String(attribute)];
        if (value === undefined) throw new TemplateError(`Fn::GetAtt ${id}.${attribute} has no local value`);
        return value;
      }
      case 'Fn::Join': {
        const [separator, parts] = arg as [string, unknown[]];
        const resolved = this.resolve(parts);
        if (!Array.isArray(resolved)) throw new TemplateError('Fn::Join takes a list');
        return resolved.map((p) => String(p)).join(separator);
      }
      case 'Fn::Sub': {
        const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [String(arg), {}];
        return text.replace(/\$\{([^}!][^}]*)\}/g, (_m, name: string) => {
          if (name in vars) return String(this.resolve(vars[name]));
          const [id, attribute] = name.split('.');
          return attribute ? String(this.fn('Fn::GetAtt', [id, attribute])) : this.ref(name);
        });
      }
      case 'Fn::Select': {
        const [index, list] = arg as [unknown, unknown];
        const resolved = this.resolve(list);
        if (!Array.isArray(resolved)) throw new TemplateError('Fn::Select takes a list');
        return resolved[Number(this.resolve(index))];
      }
      case 'Fn::Split': {
        const [separator, text] = arg as [string, unknown];
        return String(this.resolve(text)).split(separator);
      }
      case 'Fn::If': {
        const [condition, whenTrue, whenFalse] = arg as [string, unknown, unknown];
        return this.resolve(this.condition(condition) ? whenTrue : whenFalse);
      }
      case 'Fn::FindInMap': {
        const [map, top, second] = (arg as unknown[]).map((a) => String(this.resolve(a)));
        const value = this.template.Mappings?.[map as string]?.[top as string]?.[second as string];
        if (value === undefined)
          throw new TemplateError(`Fn::FindInMap ${map}.${top}.${second} is not in the template`);
        return value;
      }
      case 'Fn::Equals': {
        const [a, b] = (arg as unknown[]).map((v) => JSON.stringify(this.resolve(v)));
        return a === b;
      }
      case 'Fn::Not':
        return !this.truthy((arg as unknown[])[0]);
      case 'Fn::And':
        return (arg as unknown[]).every((c) => this.truthy(c));
      case 'Fn::Or':
        return (arg as unknown[]).some((c) => this.truthy(c));
      case 'Condition':
        return this.condition(String(arg));
      default:
        throw new TemplateError(`${key} is not supported by the local stack`);
    }
  }

  private truthy(value: unknown): boolean {
    return this.resolve(value) === true;
  }

  private condition(name: string): boolean {
    const definition = this.template.Conditions?.[name];
    if (definition === undefined) throw new TemplateError(`unknown condition ${name}`);
    return this.truthy(definition);
  }
}
