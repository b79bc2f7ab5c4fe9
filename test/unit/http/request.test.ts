import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { fromEvent } from '../../../lambda/http/request';

const event = (body: string, isBase64Encoded: boolean, headers: Record<string, string> = {}) =>
  ({
    rawPath: '/v2/a/manifests/t',
    rawQueryString: '',
    headers,
    body,
    isBase64Encoded,
    requestContext: { http: { method: 'PUT' }, requestId: 'r' },
  }) as unknown as APIGatewayProxyEventV2;

describe('request from an API Gateway event', () => {
  test('a text body holding U+FFFD is marked transcoded: bytes that were not UTF-8 may have been replaced', () => {
    const req = fromEvent(event('{"a":"\ufffd"}', false));
    expect(req.transcoded).toBe(true);
    expect(Buffer.from(req.body).toString()).toBe('{"a":"\ufffd"}');
  });

  test('a text body without U+FFFD, and any base64 body, are the bytes sent', () => {
    expect(fromEvent(event('{"a":"é"}', false)).transcoded).toBeUndefined();
    const bytes = Buffer.from([0xef, 0xbf, 0xbd, 0xff]);
    const binary = fromEvent(event(bytes.toString('base64'), true));
    expect(binary.transcoded).toBeUndefined();
    expect(Buffer.from(binary.body)).toEqual(bytes);
  });
});
