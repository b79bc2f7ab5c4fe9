/**
 * Evaluates IAM identity policies the way AWS does for a single principal (IAM User Guide, "Policy
 * evaluation logic", "IAM JSON policy elements: Condition operators" and "Conditions with multiple
 * context keys or values"), so local mode refuses what a deployment would refuse. Resource-based
 * policies, permissions boundaries and SCPs are out of scope: the stack grants through roles only.
 */

/** One statement of an identity policy, as CloudFormation holds it. */
export interface PolicyStatement {
  readonly Effect: 'Allow' | 'Deny';
  readonly Action?: string | readonly string[];
  readonly NotAction?: string | readonly string[];
  readonly Resource?: string | readonly string[];
  readonly NotResource?: string | readonly string[];
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  readonly Sid?: string;
}

/** Condition keys of one request: single values as strings, multivalued keys (e.g. dynamodb:LeadingKeys) as arrays; absent keys are absent. */
export type RequestContext = Readonly<Record<string, string | readonly string[]>>;

/** One IAM action on one resource, with the condition keys the request carries. */
export interface AuthorizationRequest {
  readonly action: string;
  readonly resource: string;
  readonly context?: RequestContext;
}

/** `ExplicitDeny` when a Deny statement applies, else `Allow` when an Allow statement does, else `ImplicitDeny`. */
export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

/**
 * Decides `request` against `statements` (all policies attached to the principal, flattened).
 * Throws on a statement this evaluator cannot judge (an unknown or unsupported condition operator, a
 * policy variable, a malformed element), checking every statement, not only those that apply, so a
 * policy it cannot read fails the first call instead of silently allowing or denying.
 */
export function evaluate(statements: readonly PolicyStatement[], request: AuthorizationRequest): Decision {
  const context = new Map<string, readonly string[]>();
  for (const [key, value] of Object.entries(request.context ?? {})) {
    const values = typeof value === 'string' ? [value] : [...value];
    // An empty multivalued key is indistinguishable from an absent one in every documented rule.
    if (values.length > 0) context.set(key.toLowerCase(), values);
  }
  let allowed = false;
  let denied = false;
  for (const statement of statements) {
    let conditions = compiled.get(statement);
    if (!conditions) compiled.set(statement, (conditions = compileStatement(statement)));
    if (!applies(statement, request, conditions, context)) continue;
    if (statement.Effect === 'Deny') denied = true;
    else allowed = true;
  }
  return denied ? 'ExplicitDeny' : allowed ? 'Allow' : 'ImplicitDeny';
}

interface BaseOperator {
  /** Negated operators hold when no policy value matches (logical NOR), and when the key is absent. */
  readonly negated: boolean;
  readonly test: (requestValue: string, policyValue: string) => boolean;
  /** Throws on a policy value the operator cannot use, whether or not a request ever reaches it. */
  readonly check: (policyValue: string) => unknown;
}

interface CompiledCondition {
  readonly operator: string;
  readonly key: string;
  readonly values: readonly string[];
  readonly base: BaseOperator | 'Null';
  readonly set?: 'ForAllValues' | 'ForAnyValue';
  readonly ifExists: boolean;
}

const COMPARISONS: Record<string, (r: number, p: number) => boolean> = {
  Equals: (r, p) => r === p,
  LessThan: (r, p) => r < p,
  LessThanEquals: (r, p) => r <= p,
  GreaterThan: (r, p) => r > p,
  GreaterThanEquals: (r, p) => r >= p,
};

function operators(): Record<string, BaseOperator> {
  const table: Record<string, BaseOperator> = {};
  const add = (name: string, test: BaseOperator['test'], check: BaseOperator['check'], negation?: string) => {
    table[name] = { negated: false, test, check };
    if (negation) table[negation] = { negated: true, test, check };
  };
  const text = (p: string) => void literal(p);
  add('StringEquals', (r, p) => r === literal(p), text, 'StringNotEquals');
  const folded = (r: string, p: string) => r.toLowerCase() === literal(p).toLowerCase();
  add('StringEqualsIgnoreCase', folded, text, 'StringNotEqualsIgnoreCase');
  const like = (p: string) => wildcard(p, '');
  add('StringLike', (r, p) => like(p).test(r), like, 'StringNotLike');
  for (const [suffix, cmp] of Object.entries(COMPARISONS)) {
    const negation = suffix === 'Equals' ? 'NotEquals' : undefined;
    for (const [kind, parse] of [
      ['Numeric', Number],
      ['Date', parseDate],
    ] as const) {
      const policy = (p: string) => parsePolicyValue(p, parse, kind);
      const test = (r: string, p: string) => {
        const value = r.trim() === '' ? NaN : parse(r.trim());
        // A request value of the wrong type matches nothing; the negated operators then hold.
        return !Number.isNaN(value) && cmp(value, policy(p));
      };
      add(`${kind}${suffix}`, test, policy, negation && `${kind}${negation}`);
    }
  }
  add('Bool', folded, text);
  const anyValue = () => undefined;
  add('BinaryEquals', (r, p) => r === p, anyValue);
  // ArnEquals and ArnLike behave identically, as do their negations.
  const arnCheck = (p: string) => arnParts(p)?.forEach((segment) => wildcard(segment, ''));
  add('ArnEquals', arnLike, arnCheck, 'ArnNotEquals');
  add('ArnLike', arnLike, arnCheck, 'ArnNotLike');
  return table;
}

const OPERATORS = operators();

// Every AWS call of local mode is judged against the same statements: check and compile each once.
const compiled = new WeakMap<PolicyStatement, readonly CompiledCondition[]>();

/** The operator names this evaluator understands, without set qualifiers or `IfExists`. */
export const SUPPORTED_CONDITION_OPERATORS: readonly string[] = [...Object.keys(OPERATORS), 'Null'];

function compileStatement(statement: PolicyStatement): CompiledCondition[] {
  const where = statement.Sid ? `statement ${statement.Sid}` : 'a policy statement';
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny')
    throw new Error(`${where} has Effect ${JSON.stringify(statement.Effect)}; only Allow and Deny exist`);
  if ((statement.Action === undefined) === (statement.NotAction === undefined))
    throw new Error(`${where} needs exactly one of Action and NotAction`);
  if ((statement.Resource === undefined) === (statement.NotResource === undefined))
    throw new Error(`${where} needs exactly one of Resource and NotResource`);
  const compiled: CompiledCondition[] = [];
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    const parsed = parseOperator(operator, where);
    if (typeof keys !== 'object' || keys === null || Array.isArray(keys))
      throw new Error(`${where}: condition ${operator} must map keys to values`);
    for (const [key, raw] of Object.entries(keys)) {
      const values = policyValues(raw, `${where}: ${operator} ${key}`);
      if (parsed.base === 'Null' && values.some((v) => v !== 'true' && v !== 'false'))
        throw new Error(`${where}: Null ${key} takes "true" or "false", got ${JSON.stringify(raw)}`);
      if (parsed.base !== 'Null') for (const v of values) parsed.base.check(v);
      compiled.push({ ...parsed, operator, key: key.toLowerCase(), values });
    }
  }
  return compiled;
}

function parseOperator(name: string, where: string): Pick<CompiledCondition, 'base' | 'set' | 'ifExists'> {
  const qualified = /^(ForAllValues|ForAnyValue):(.+)$/.exec(name);
  const set = qualified?.[1] as CompiledCondition['set'];
  let base = qualified?.[2] ?? name;
  const ifExists = base.endsWith('IfExists');
  if (ifExists) base = base.slice(0, -'IfExists'.length);
  if (base === 'Null' && !ifExists && !set) return { base: 'Null', ifExists: false };
  if (base === 'IpAddress' || base === 'NotIpAddress')
    throw new Error(`${where}: condition operator ${name} is not supported by the local IAM evaluator`);
  const operator = OPERATORS[base];
  if (!operator) throw new Error(`${where}: unknown condition operator ${name}`);
  return { base: operator, set, ifExists };
}

function policyValues(raw: unknown, where: string): string[] {
  const list: unknown[] = Array.isArray(raw) ? raw : [raw];
  return list.map((v) => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new Error(`${where}: condition values must be strings, numbers or booleans, got ${JSON.stringify(raw)}`);
  });
}

function applies(
  statement: PolicyStatement,
  request: AuthorizationRequest,
  conditions: readonly CompiledCondition[],
  context: ReadonlyMap<string, readonly string[]>,
): boolean {
  const actionHit = list(statement.Action ?? statement.NotAction).some((p) =>
    wildcard(p, 'i', false).test(request.action),
  );
  if (actionHit !== (statement.Action !== undefined)) return false;
  const resourceHit = list(statement.Resource ?? statement.NotResource).some((p) =>
    wildcard(p, '').test(request.resource),
  );
  if (resourceHit !== (statement.Resource !== undefined)) return false;
  return conditions.every((c) => holds(c, context.get(c.key)));
}

function holds(condition: CompiledCondition, present: readonly string[] | undefined): boolean {
  const { base, set, ifExists, values, key, operator } = condition;
  if (base === 'Null') return values.some((v) => (v === 'true') === (present === undefined));
  // "If the key values in the request resolve to an empty data set (for example, an empty string)":
  // for the set qualifiers a lone empty string is no values at all.
  const requestValues = set && present?.length === 1 && present[0] === '' ? undefined : present;
  if (requestValues === undefined) {
    if (ifExists) return true;
    if (set) return set === 'ForAllValues';
    return base.negated;
  }
  const one = (r: string) => values.some((p) => base.test(r, p)) !== base.negated;
  if (set === 'ForAllValues') return requestValues.every(one);
  if (set === 'ForAnyValue') return requestValues.some(one);
  if (requestValues.length > 1)
    throw new Error(
      `${operator} on ${key}, which has ${requestValues.length} values here, needs ForAllValues: or ForAnyValue:`,
    );
  return one(requestValues[0] as string);
}

function list(value: string | readonly string[] | undefined): readonly string[] {
  return value === undefined ? [] : typeof value === 'string' ? [value] : value;
}

/** `ArnLike`: each of the six colon-separated components is matched on its own, so `*` never spans a colon. */
function arnLike(requestValue: string, pattern: string): boolean {
  const r = arnParts(requestValue);
  const p = arnParts(pattern);
  return r !== undefined && p !== undefined && p.every((segment, i) => wildcard(segment, '').test(r[i] as string));
}

function arnParts(value: string): string[] | undefined {
  const parts = value.split(':');
  return parts.length < 6 ? undefined : [...parts.slice(0, 5), parts.slice(5).join(':')];
}

function parsePolicyValue(value: string, parse: (s: string) => number, kind: string): number {
  const parsed = value.trim() === '' ? NaN : parse(value.trim());
  if (Number.isNaN(parsed))
    throw new Error(`condition value ${JSON.stringify(value)} is not a ${kind === 'Date' ? 'date' : 'number'}`);
  return parsed;
}

/** ISO 8601 or epoch seconds, as the Date operators accept. */
function parseDate(s: string): number {
  return /^\d+$/.test(s) ? Number(s) * 1000 : Date.parse(s);
}

const patterns = new Map<string, RegExp>();

/** A policy string as a regular expression: `*` and `?` are wildcards (see `scan` for `${…}`). */
function wildcard(pattern: string, flags: string, variables = true): RegExp {
  const cacheKey = `${flags}${variables ? 'v' : '-'}${pattern}`;
  let re = patterns.get(cacheKey);
  if (!re) {
    const source = scan(pattern, variables, (c) => (c === '*' ? '.*' : '.'), escape);
    re = new RegExp(`^${source}$`, `s${flags}`);
    patterns.set(cacheKey, re);
  }
  return re;
}

/** A policy string compared without wildcards (StringEquals and friends). */
function literal(pattern: string): string {
  const same = (text: string) => text;
  return pattern.includes('${') ? scan(pattern, true, same, same) : pattern;
}

/**
 * Walks a policy string: `${*}`, `${?}` and `${$}` are the documented escapes for those characters;
 * any other `${…}` is a policy variable, which needs the principal's identity this evaluator does not
 * have, so it throws rather than compare the variable's name as text.
 */
function scan(
  pattern: string,
  variables: boolean,
  onWildcard: (c: '*' | '?') => string,
  onText: (t: string) => string,
): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (variables && c === '$' && pattern[i + 1] === '{') {
      const end = pattern.indexOf('}', i);
      const name = end < 0 ? '' : pattern.slice(i + 2, end);
      if (name !== '*' && name !== '?' && name !== '$')
        throw new Error(`policy variable in ${JSON.stringify(pattern)} is not supported by the local IAM evaluator`);
      out += onText(name);
      i = end;
    } else if (c === '*' || c === '?') out += onWildcard(c);
    else out += onText(c);
  }
  return out;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
