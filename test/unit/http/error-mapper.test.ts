import * as errors from '../../../lambda/core/errors';
import { errorResponse } from '../../../lambda/http/error-mapper';

const body = (r: { body?: string }) =>
  JSON.parse(Buffer.from(r.body ?? '', 'base64').toString()) as { errors: { code: string; message: string }[] };

describe('error mapper', () => {
  const cases: [errors.RegistryError, number, string][] = [
    [new errors.BlobUnknownError('m'), 404, 'BLOB_UNKNOWN'],
    [new errors.BlobUploadInvalidError('m'), 400, 'BLOB_UPLOAD_INVALID'],
    [new errors.BlobUploadUnknownError('m'), 404, 'BLOB_UPLOAD_UNKNOWN'],
    [new errors.DigestInvalidError('m'), 400, 'DIGEST_INVALID'],
    [new errors.ManifestBlobUnknownError('m'), 400, 'MANIFEST_BLOB_UNKNOWN'],
    [new errors.ManifestInvalidError('m'), 400, 'MANIFEST_INVALID'],
    [new errors.ManifestUnknownError('m'), 404, 'MANIFEST_UNKNOWN'],
    [new errors.NameInvalidError('m'), 400, 'NAME_INVALID'],
    [new errors.NameUnknownError('m'), 404, 'NAME_UNKNOWN'],
    [new errors.SizeInvalidError('m'), 400, 'SIZE_INVALID'],
    [new errors.SizeInvalidError('m', true), 413, 'SIZE_INVALID'],
    [new errors.UnauthorizedError('m'), 401, 'UNAUTHORIZED'],
    [new errors.DeniedError('m'), 403, 'DENIED'],
    [new errors.UnsupportedError('m'), 400, 'UNSUPPORTED'],
    [new errors.UnsupportedError('m', ['GET']), 405, 'UNSUPPORTED'],
    [new errors.PaginationInvalidError('m'), 400, 'UNSUPPORTED'],
    [new errors.EndpointUnknownError('m'), 404, 'UNSUPPORTED'],
    [new errors.TooManyRequestsError('m', 7), 429, 'TOOMANYREQUESTS'],
    [new errors.UnavailableError('m', 2), 503, 'UNAVAILABLE'],
    [new errors.RangeInvalidError('m', 'id', 'repo', 10), 416, 'BLOB_UPLOAD_INVALID'],
  ];
  test.each(cases)('%p → %i %s', (err, status, code) => {
    const res = errorResponse(err, 'req-1', () => {});
    expect(res.statusCode).toBe(status);
    expect(body(res).errors[0]).toMatchObject({ code, message: 'm' });
    expect(res.headers['Content-Type']).toBe('application/json');
  });

  test('special headers: Allow on 405, Range and Location on 416, Retry-After on 429/503', () => {
    expect(errorResponse(new errors.UnsupportedError('m', ['GET', 'HEAD']), 'r', () => {}).headers.Allow).toBe(
      'GET, HEAD',
    );
    const range = errorResponse(new errors.RangeInvalidError('m', 'u-1', 'a/b', 10), 'r', () => {}).headers;
    expect(range).toMatchObject({ Range: '0-9', Location: '/v2/a/b/blobs/uploads/u-1', 'Docker-Upload-UUID': 'u-1' });
    expect(errorResponse(new errors.TooManyRequestsError('m', 7), 'r', () => {}).headers['Retry-After']).toBe('7');
    expect(errorResponse(new errors.UnavailableError('m', 2), 'r', () => {}).headers['Retry-After']).toBe('2');
  });

  test('an outage underneath is 503 with Retry-After; its cause goes to the log only, with attempts', () => {
    const logged: Record<string, unknown>[] = [];
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), {
      code: 'ECONNREFUSED',
      $metadata: { attempts: 3 },
    });
    const res = errorResponse(new errors.UnavailableError('the blob store did not answer', 5, cause), 'r', (_m, f) =>
      logged.push(f),
    );
    expect(res.statusCode).toBe(503);
    expect(res.headers['Retry-After']).toBe('5');
    expect(JSON.stringify(body(res))).not.toContain('10.0.0.1');
    expect(logged).toEqual([
      expect.objectContaining({ cause: expect.objectContaining({ code: 'ECONNREFUSED', attempts: 3 }) }),
    ]);
    // Maintenance mode's 503 has no cause and logs nothing.
    errorResponse(new errors.UnavailableError('read-only', 60), 'r', (_m, f) => logged.push(f));
    expect(logged).toHaveLength(1);
  });

  test('anything else is 500 UNKNOWN with the request id, and the real error goes to the log only', () => {
    const logged: Record<string, unknown>[] = [];
    const res = errorResponse(new Error('secret internals'), 'req-9', (_m, fields) => logged.push(fields));
    expect(res.statusCode).toBe(500);
    const err = body(res).errors[0]!;
    expect(err.code).toBe('UNKNOWN');
    expect(err.message).toContain('req-9');
    expect(JSON.stringify(body(res))).not.toContain('secret internals');
    expect(JSON.stringify(logged)).toContain('secret internals');
  });
});
