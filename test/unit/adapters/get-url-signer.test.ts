import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { GetUrlSigner } from '../../../lambda/adapters/s3/get-url-signer';
import { createS3Clients } from '../../../lambda/adapters/s3/s3-clients';
import type { AwsClientOptions } from '../../../lambda/adapters/client-options';

const at = new Date('2026-12-03T10:20:30Z');

const KEYS = [
  'blobs/sha256/1a/1a811769b300dfd5e818592f6ea1254ec37bc77ddeb24304870eb25b35fb3e26',
  'manifests/a b/c+d=e&f?g#h',
  'uploads/ünïcødé/%41/~tilde/*star/(paren)/!bang',
  'double//slash/',
  'x',
];

const CONFIGS: Record<string, AwsClientOptions> = {
  'a local endpoint, path-style': {
    region: 'us-east-1',
    s3Endpoint: 'http://127.0.0.1:9000',
    forcePathStyle: true,
  },
  'a public endpoint with a path of its own': {
    region: 'eu-west-1',
    s3Endpoint: 'http://127.0.0.1:9000',
    s3PublicEndpoint: 'https://blobs.example.com:8443/s3',
    forcePathStyle: true,
  },
  "AWS's regional endpoint, virtual-hosted": { region: 'eu-central-1' },
  'us-east-1, virtual-hosted': { region: 'us-east-1' },
};

const credentialsOf = (sessionToken?: string) => ({
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
  ...(sessionToken ? { sessionToken } : {}),
});

function presignClient(options: AwsClientOptions, sessionToken?: string): S3Client {
  const { presign } = createS3Clients({ ...options, credentials: credentialsOf() });
  // A session token, as Lambda's credentials carry.
  if (sessionToken) presign.config.credentials = async () => credentialsOf(sessionToken);
  return presign;
}

describe('GetUrlSigner', () => {
  for (const [name, options] of Object.entries(CONFIGS)) {
    for (const sessionToken of [undefined, 'FwoGZXIvYXdzEBYaDH/session+token=']) {
      test(`signs the URL getSignedUrl does: ${name}${sessionToken ? ', with a session token' : ''}`, async () => {
        const client = presignClient(options, sessionToken);
        const signer = new GetUrlSigner(client, 'registry-blobs');
        for (const key of KEYS) {
          for (const expiresIn of [60, 900]) {
            const expected = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'registry-blobs', Key: key }), {
              expiresIn,
              signingDate: at,
            });
            expect(await signer.sign(key, expiresIn, at)).toBe(expected);
            expect(new URL(expected).searchParams.get('X-Amz-Security-Token')).toBe(sessionToken ?? null);
          }
        }
      });
    }
  }

  test('signs with the current time by default, and the same way on every call', async () => {
    const client = presignClient(CONFIGS['a local endpoint, path-style'] as AwsClientOptions);
    const signer = new GetUrlSigner(client, 'b');
    const first = new URL(await signer.sign('k/1', 300));
    expect(first.origin + first.pathname).toBe('http://127.0.0.1:9000/b/k/1');
    expect(first.searchParams.get('X-Amz-Expires')).toBe('300');
    expect(first.searchParams.get('x-id')).toBe('GetObject');
    const date = first.searchParams.get('X-Amz-Date') as string;
    expect(
      Math.abs(
        Date.parse(date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) - Date.now(),
      ),
    ).toBeLessThan(60_000);
    const again = new URL(await signer.sign('k/2', 300));
    expect(again.pathname).toBe('/b/k/2');
  });
});
