/** A route key's path (or `$default`) and what serves it: an endpoint group, or a function of the template. */
export interface Route<T extends string = string> {
  readonly path: string;
  readonly group: T;
}

interface CompiledRoute<T extends string> {
  readonly spec: Route<T>;
  readonly segments: readonly string[];
  readonly greedy: boolean;
  readonly literal: boolean;
}

/**
 * Chooses the function for a path the way HTTP API route selection does: an all-literal route beats
 * one with path variables, which beats a greedy `{proxy+}` route; `$default` takes the rest. Variables
 * match exactly one non-empty segment; a greedy variable matches one or more (a trailing slash
 * included).
 */
export class RouteMatcher<T extends string = string> {
  private readonly routes: CompiledRoute<T>[];
  private readonly fallback: T;

  constructor(table: readonly Route<T>[]) {
    const fallback = table.find((r) => r.path === '$default');
    if (!fallback) throw new Error('route table has no $default route');
    this.fallback = fallback.group;
    this.routes = table
      .filter((r) => r.path !== '$default')
      .map((spec) => {
        const segments = spec.path.slice(1).split('/');
        const greedy = segments[segments.length - 1]?.endsWith('+}') ?? false;
        return { spec, segments, greedy, literal: segments.every((s) => !s.startsWith('{')) };
      });
  }

  match(path: string): T {
    const parts = path.slice(1).split('/');
    let best: CompiledRoute<T> | undefined;
    for (const route of this.routes) {
      if (!matches(route, parts)) continue;
      if (!best || rank(route) < rank(best)) best = route;
    }
    return best?.spec.group ?? this.fallback;
  }
}

function rank(route: CompiledRoute<string>): number {
  return route.literal ? 0 : route.greedy ? 2 : 1;
}

function matches(route: CompiledRoute<string>, parts: readonly string[]): boolean {
  const fixed = route.greedy ? route.segments.length - 1 : route.segments.length;
  if (route.greedy ? parts.length < route.segments.length : parts.length !== fixed) return false;
  for (let i = 0; i < fixed; i++) {
    const segment = route.segments[i] as string;
    const part = parts[i] as string;
    if (segment.startsWith('{') ? part.length === 0 : segment !== part) return false;
  }
  return !route.greedy || parts.slice(fixed).join('/').length > 0;
}

/** CloudFront path-pattern matching: `*` is any run of characters (including `/`), `?` one character. */
export function matchesPathPattern(pattern: string, path: string): boolean {
  const regex = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${regex}$`).test(path);
}
