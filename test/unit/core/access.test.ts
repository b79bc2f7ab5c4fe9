import {
  ALLOW_ALL,
  formatScope,
  grantFromRules,
  grantOf,
  intersect,
  matchesPattern,
  parseScope,
  parseScopes,
  readOnly,
  type AccessRule,
} from '../../../lambda/core/auth/access';

describe('scopes', () => {
  test.each([
    ['repository:alice/app:pull,push', { type: 'repository', name: 'alice/app', actions: ['pull', 'push'] }],
    ['repository:localhost:5000/app:pull', { type: 'repository', name: 'localhost:5000/app', actions: ['pull'] }],
    ['registry:catalog:*', { type: 'registry', name: 'catalog', actions: ['*'] }],
    ['repository(plugin):x:pull', { type: 'repository', name: 'x', actions: ['pull'] }],
    ['repository:a:pull,pull', { type: 'repository', name: 'a', actions: ['pull'] }],
  ])('%s parses', (scope, entry) => {
    expect(parseScope(scope)).toEqual(entry);
  });

  test.each(['', 'repository', 'repository:a', 'repository::pull', 'Repository:a:pull', 'repository:a:PULL'])(
    '"%s" is not a scope and is ignored',
    (scope) => {
      expect(parseScope(scope)).toBeUndefined();
    },
  );

  test('scope parameters may hold several scopes separated by spaces, and repeat', () => {
    expect(parseScopes(['repository:a:pull repository:b:push', 'registry:catalog:*']).map(formatScope)).toEqual([
      'repository:a:pull',
      'repository:b:push',
      'registry:catalog:*',
    ]);
  });
});

describe('rules and grants', () => {
  const rules: AccessRule[] = [
    { pattern: 'team/*', actions: ['pull', 'push'] },
    { pattern: 'team/prod/*', actions: ['delete'] },
    { pattern: 'exact', actions: ['pull'] },
  ];

  test('"*" matches any run of characters, "/" included, and nothing else is special', () => {
    expect(matchesPattern('team/*', 'team/a')).toBe(true);
    expect(matchesPattern('team/*', 'team/a/b')).toBe(true);
    expect(matchesPattern('team/*', 'team')).toBe(false);
    expect(matchesPattern('team/*', 'teamx/a')).toBe(false);
    expect(matchesPattern('a.b', 'aXb')).toBe(false);
    expect(matchesPattern('*', 'anything/at/all')).toBe(true);
  });

  test('the token service grants the intersection, rule by rule, and keeps refused entries empty', () => {
    expect(
      intersect(
        parseScopes([
          'repository:team/prod/api:pull,push,delete',
          'repository:exact:pull,push',
          'repository:other:pull',
          'registry:catalog:*',
        ]),
        rules,
      ),
    ).toEqual([
      { type: 'repository', name: 'team/prod/api', actions: ['pull', 'push', 'delete'] },
      { type: 'repository', name: 'exact', actions: ['pull'] },
      { type: 'repository', name: 'other', actions: [] },
      { type: 'registry', name: 'catalog', actions: [] },
    ]);
  });

  test('names outside the grammar are granted nothing, even by "*"', () => {
    for (const name of ['a/../b', 'a%2Fb', 'A', 'a//b', 'a/', `${'a'.repeat(256)}`]) {
      expect(intersect([{ type: 'repository', name, actions: ['pull'] }], ALLOW_ALL)[0]!.actions).toEqual([]);
    }
  });

  test('the catalog needs pull on "*"; unknown resource types get nothing', () => {
    expect(intersect(parseScopes(['registry:catalog:*']), ALLOW_ALL)[0]!.actions).toEqual(['*']);
    expect(intersect([{ type: 'blob', name: 'x', actions: ['pull'] }], ALLOW_ALL)[0]!.actions).toEqual([]);
  });

  test('read-only keeps only pull', () => {
    expect(readOnly(rules)).toEqual([
      { pattern: 'team/*', actions: ['pull'] },
      { pattern: 'exact', actions: ['pull'] },
    ]);
  });

  test('grants from a token check type, name and action exactly, and know what the token names', () => {
    const grant = grantOf([{ type: 'repository', name: 'a', actions: ['pull'] }]);
    expect(grant.allows({ type: 'repository', name: 'a', actions: [] }, 'pull')).toBe(true);
    expect(grant.allows({ type: 'repository', name: 'a', actions: [] }, 'push')).toBe(false);
    expect(grant.allows({ type: 'repository', name: 'a/b', actions: [] }, 'pull')).toBe(false);
    expect(grant.mentions!({ type: 'repository', name: 'a', actions: [] })).toBe(true);
    expect(grantFromRules(rules).allows({ type: 'repository', name: 'team/x', actions: [] }, 'push')).toBe(true);
  });
});
