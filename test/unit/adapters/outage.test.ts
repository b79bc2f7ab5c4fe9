import { classifyOutage, outageError } from '../../../lambda/adapters/outage';
import { UnavailableError } from '../../../lambda/core/errors';

/** An error shaped as the SDK throws it after its retries. */
function sdkError(name: string, fields: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(`${name} happened`), { name, ...fields });
}

describe('outage classification (what the SDK leaves after its retries)', () => {
  const cases: [string, unknown, 'busy' | 'unreachable' | undefined][] = [
    ['DynamoDB ThrottlingException', sdkError('ThrottlingException', { $metadata: { httpStatusCode: 400 } }), 'busy'],
    ['DynamoDB ProvisionedThroughputExceeded', sdkError('ProvisionedThroughputExceededException'), 'busy'],
    ['DynamoDB RequestLimitExceeded', sdkError('RequestLimitExceeded'), 'busy'],
    ['S3 SlowDown', sdkError('SlowDown', { $metadata: { httpStatusCode: 503 } }), 'busy'],
    ['DynamoDB InternalServerError', sdkError('InternalServerError', { $metadata: { httpStatusCode: 500 } }), 'busy'],
    ['S3 ServiceUnavailable', sdkError('ServiceUnavailable'), 'busy'],
    ['a 502 from anything in between', sdkError('Unknown', { $metadata: { httpStatusCode: 502 } }), 'busy'],
    ['any 429', sdkError('Unknown', { $metadata: { httpStatusCode: 429 } }), 'busy'],
    ['an attempt that timed out', sdkError('TimeoutError', { code: 'ETIMEDOUT' }), 'unreachable'],
    ['connection refused', Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'unreachable'],
    ['socket hang up without a code', new Error('socket hang up'), 'unreachable'],
    [
      'a body cut off',
      Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }),
      'unreachable',
    ],
    [
      'an error of another realm, wrapped by the SDK',
      new Error('AWS SDK error wrapper for TimeoutError: read ECONNRESET'),
      'unreachable',
    ],
    ['a cause that is an outage', Object.assign(new Error('outer'), { cause: { code: 'ECONNRESET' } }), 'unreachable'],
    ['a plain object from another realm', { name: 'TimeoutError', message: 'x' }, 'unreachable'],
    // Not outages: the request itself was refused, or the server will never do it.
    [
      'ConditionalCheckFailed',
      sdkError('ConditionalCheckFailedException', { $metadata: { httpStatusCode: 400 } }),
      undefined,
    ],
    ['AccessDenied', sdkError('AccessDenied', { $metadata: { httpStatusCode: 403 } }), undefined],
    ['501 NotImplemented', sdkError('NotImplemented', { $metadata: { httpStatusCode: 501 } }), undefined],
    ['a programming error', new TypeError('x is not a function'), undefined],
    ['no error at all', 'boom', undefined],
  ];
  test.each(cases)('%s → %s', (_name, err, outage) => {
    expect(classifyOutage(err)).toBe(outage);
  });

  test('busy is 503 with Retry-After 1, unreachable 503 with Retry-After 5; the cause is kept, not shown', () => {
    const busy = outageError(sdkError('SlowDown'), 'blob store');
    expect(busy).toBeInstanceOf(UnavailableError);
    expect(busy).toMatchObject({
      code: 'UNAVAILABLE',
      retryAfterSeconds: 1,
      message: 'the blob store is busy; retry shortly',
    });
    const cause = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:443'), { code: 'ECONNREFUSED' });
    const down = outageError(cause, 'metadata store');
    expect(down).toMatchObject({ retryAfterSeconds: 5, cause });
    expect(down?.message).not.toContain('10.1.2.3');
    expect(outageError(new TypeError('bug'), 'blob store')).toBeUndefined();
  });
});
