import fc from 'fast-check';
import { parseDigest } from '../../../lambda/core/digest';
import { DigestInvalidError, NameInvalidError, UnsupportedError } from '../../../lambda/core/errors';
import { assertValidName, isValidTag } from '../../../lambda/core/names';
import { parseOciPath } from '../../../lambda/core/paths';

const component = fc.stringMatching(/^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/);
const validName = fc
  .array(component, { minLength: 1, maxLength: 5 })
  .map((c) => c.join('/'))
  .filter((n) => n.length <= 255);
const hex64 = fc.stringMatching(/^[a-f0-9]{64}$/);

describe('OCI grammar', () => {
  test('every name built from the grammar is valid and parses back out of any endpoint path', () => {
    fc.assert(
      fc.property(validName, hex64, (name, hex) => {
        expect(assertValidName(name)).toBe(name);
        expect(parseOciPath(`/v2/${name}/manifests/latest`)).toEqual({ kind: 'manifest', name, reference: 'latest' });
        expect(parseOciPath(`/v2/${name}/blobs/sha256:${hex}`)).toEqual({
          kind: 'blob',
          name,
          digest: `sha256:${hex}`,
        });
        expect(parseOciPath(`/v2/${name}/tags/list`)).toEqual({ kind: 'tags', name });
      }),
    );
  });

  test('names with uppercase, empty components, leading separators or encoded characters are invalid', () => {
    for (const bad of ['A', 'a//b', '/a', 'a/', '-a', 'a-', 'a%2fb', 'a..b', '..', 'a b', 'a'.repeat(256)]) {
      expect(() => assertValidName(bad)).toThrow(NameInvalidError);
    }
  });

  test('tags follow [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/), (tag) =>
        expect(isValidTag(tag)).toBe(true),
      ),
    );
    for (const bad of ['', '.a', '-a', 'a'.repeat(129), 'a/b', 'a:b', 'é']) expect(isValidTag(bad)).toBe(false);
  });

  test('digests: sha256 and sha512 with exact lowercase hex; others are invalid or unsupported', () => {
    fc.assert(fc.property(hex64, (hex) => expect(parseDigest(`sha256:${hex}`).encoded).toBe(hex)));
    expect(parseDigest(`sha512:${'b'.repeat(128)}`).algorithm).toBe('sha512');
    for (const bad of [
      'sha256:abc',
      `sha256:${'A'.repeat(64)}`,
      'sha256',
      ':abc',
      `sha256:${'a'.repeat(65)}`,
      'x'.repeat(300),
    ]) {
      expect(() => parseDigest(bad)).toThrow(DigestInvalidError);
    }
    expect(() => parseDigest(`md5:${'a'.repeat(32)}`)).toThrow(UnsupportedError);
  });

  test('paths that are not endpoints parse to nothing', () => {
    for (const path of ['/', '/v1/', '/v2/a', '/v2/a/blobs', '/v2/a/manifests/', '/v2/a/tags', '/v2/a/tags/list/x']) {
      expect(parseOciPath(path)).toBeUndefined();
    }
  });
});
