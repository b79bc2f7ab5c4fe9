import { loadConfig } from '../../../lambda/config/config';
import { withPathPrefix } from '../../../lambda/http/path-prefix';
import { json, respond } from '../../../lambda/http/response';

describe('responses under a path prefix', () => {
  test("the registry's own paths in Location and Link get the prefix; absolute URLs do not", () => {
    const upload = withPathPrefix(respond(202, { Location: '/v2/a/blobs/uploads/1' }), '/reg');
    expect(upload.headers.Location).toBe('/reg/v2/a/blobs/uploads/1');
    const redirect = withPathPrefix(respond(307, { Location: 'http://s3.example/b/k?X-Amz-Signature=1' }), '/reg');
    expect(redirect.headers.Location).toBe('http://s3.example/b/k?X-Amz-Signature=1');
    const page = withPathPrefix(json(200, {}, { Link: '</v2/a/tags/list?n=1&last=x>; rel="next"' }), '/a/b');
    expect(page.headers.Link).toBe('</a/b/v2/a/tags/list?n=1&last=x>; rel="next"');
  });

  test('without a prefix the response is the same object', () => {
    const response = respond(202, { Location: '/v2/a/blobs/uploads/1' });
    expect(withPathPrefix(response, undefined)).toBe(response);
  });

  test('REGISTRY_PATH_PREFIX must be a path of URL-safe segments without a trailing slash', () => {
    const env = { REGISTRY_BUCKET: 'b', REGISTRY_TABLE: 't' };
    expect(loadConfig({ ...env, REGISTRY_PATH_PREFIX: '/reg/v1' }).pathPrefix).toBe('/reg/v1');
    expect(loadConfig(env).pathPrefix).toBeUndefined();
    for (const bad of ['reg', '/reg/', '/', '/a b', '/%2e%2e', '//x'])
      expect(() => loadConfig({ ...env, REGISTRY_PATH_PREFIX: bad })).toThrow(/REGISTRY_PATH_PREFIX must be a path/);
  });
});
