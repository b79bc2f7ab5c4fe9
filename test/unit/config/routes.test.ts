import { MAX_SUPPORTED_NAME_DEPTH, routeTable, type FunctionGroup } from '../../../lambda/config/routes';
import { parseOciPath } from '../../../lambda/core/paths';
import { RouteMatcher } from '../../../tools/local/route-matcher';

const digest = `sha256:${'a'.repeat(64)}`;
const matcher = new RouteMatcher(routeTable(3));

describe('route table and API Gateway route selection', () => {
  const cases: [string, FunctionGroup][] = [
    ['/v2', 'base'],
    ['/v2/', 'base'],
    ['/v2/_catalog', 'discovery'],
    [`/v2/a/blobs/${digest}`, 'blobs'],
    [`/v2/a/b/c/blobs/${digest}`, 'blobs'],
    ['/v2/a/blobs/uploads', 'blobs'],
    ['/v2/a/blobs/uploads/', 'blobs'],
    ['/v2/a/b/blobs/uploads/0b7c2f9e-1111-4222-8333-444455556666', 'blobs'],
    ['/v2/a/manifests/latest', 'manifests'],
    ['/v2/a/b/c/manifests/latest', 'manifests'],
    ['/v2/a/tags/list', 'discovery'],
    [`/v2/a/referrers/${digest}`, 'discovery'],
    // A name component called "blobs": the deeper exact route outranks the shallower greedy one.
    ['/v2/x/blobs/y/manifests/latest', 'manifests'],
    ['/v2/x/blobs/y/tags/list', 'discovery'],
    // Deeper than the routes carry: the catch-all base function answers NAME_INVALID.
    ['/v2/a/b/c/d/tags/list', 'base'],
    ['/v2/a/b/c/d/manifests/x', 'base'],
    // ...unless a greedy blobs route of a shallower name catches it: that function answers NAME_INVALID too.
    ['/v2/a/blobs/c/d/manifests/x', 'blobs'],
    ['/elsewhere', 'base'],
    ['/token', 'token'],
    ['/health', 'base'],
  ];
  test.each(cases)('%s → %s', (path, group) => {
    expect(matcher.match(path)).toBe(group);
  });

  test('every routed path parses to an endpoint of the group it reaches', () => {
    const kinds: Record<string, FunctionGroup> = {
      base: 'base',
      catalog: 'discovery',
      blob: 'blobs',
      'upload-start': 'blobs',
      upload: 'blobs',
      manifest: 'manifests',
      tags: 'discovery',
      referrers: 'discovery',
    };
    for (const [path, group] of cases) {
      const route = parseOciPath(path);
      const depth = route && 'name' in route ? route.name.split('/').length : 0;
      // Names deeper than the table carries are answered NAME_INVALID by whichever function gets them.
      if (route && group !== 'base' && group !== 'token' && depth <= 3) expect(kinds[route.kind]).toBe(group);
    }
  });

  test('four routes per name depth plus five fixed ones (the token service and the health check among them), within the HTTP API route quota', () => {
    expect(routeTable(1)).toHaveLength(9);
    expect(routeTable(8)).toHaveLength(37);
    expect(MAX_SUPPORTED_NAME_DEPTH).toBe(73);
    expect(routeTable(MAX_SUPPORTED_NAME_DEPTH).length).toBeLessThanOrEqual(300);
    expect(() => routeTable(MAX_SUPPORTED_NAME_DEPTH + 1)).toThrow(/maxNameDepth/);
    expect(() => routeTable(0)).toThrow(/maxNameDepth/);
  });

  test('route paths are unique', () => {
    const paths = routeTable(8).map((r) => r.path);
    expect(new Set(paths).size).toBe(paths.length);
  });
});
