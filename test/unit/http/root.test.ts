import { loadConfig } from '../../../lambda/config/config';
import { registryMirrors } from '../../../lambda/handlers/wiring/mirrors';
import { rootEndpoint } from '../../../lambda/http/root';
import type { RegistryRequest } from '../../../lambda/http/request';

const get = { method: 'GET', rawPath: '/' } as RegistryRequest;
const body = (res: { body?: string; isBase64Encoded?: boolean }) =>
  JSON.parse(Buffer.from(res.body ?? '', res.isBase64Encoded ? 'base64' : 'utf8').toString()) as Record<
    string,
    unknown
  >;

describe('GET / lists the mirrors', () => {
  test('each pull-through rule: the repositories it serves, its upstream, what it may fetch; never its credentials', () => {
    const config = loadConfig({
      REGISTRY_BUCKET: 'b',
      REGISTRY_TABLE: 't',
      REGISTRY_PULL_THROUGH: JSON.stringify([
        {
          prefix: 'hub',
          upstream: 'https://registry-1.docker.io/',
          allow: ['library/*'],
          credentialsSecret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:hub-AbCdEf',
        },
        { prefix: '*', upstream: 'https://ghcr.io' },
      ]),
    });
    const doc = body(rootEndpoint(get, registryMirrors(config)));
    expect(doc.mirrors).toEqual([
      { repositories: 'hub/*', upstream: 'https://registry-1.docker.io', allow: ['library/*'] },
      { repositories: '*', upstream: 'https://ghcr.io' },
    ]);
    expect(JSON.stringify(doc)).not.toContain('secret');
  });

  test('none without rules', () => {
    const config = loadConfig({ REGISTRY_BUCKET: 'b', REGISTRY_TABLE: 't' });
    expect(body(rootEndpoint(get, registryMirrors(config))).mirrors).toEqual([]);
  });

  test('a malformed rule fails the configuration with its reason', () => {
    expect(() =>
      loadConfig({
        REGISTRY_BUCKET: 'b',
        REGISTRY_TABLE: 't',
        REGISTRY_PULL_THROUGH: '[{"prefix":"Hub","upstream":"x"}]',
      }),
    ).toThrow(/REGISTRY_PULL_THROUGH\[0\]: prefix must be/);
    expect(() => loadConfig({ REGISTRY_BUCKET: 'b', REGISTRY_TABLE: 't', REGISTRY_PULL_THROUGH: '{' })).toThrow(
      /JSON array/,
    );
  });
});
