import { verify } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient, type KeySpec } from '@aws-sdk/client-kms';
import { FileTokenKeys } from '../../lambda/adapters/keyfile/file-token-keys';
import { kmsPublicKeys } from '../../lambda/adapters/kms/kms-public-keys';
import { KmsTokenKeys } from '../../lambda/adapters/kms/kms-token-keys';
import { UnavailableError } from '../../lambda/core/errors';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from '../../tools/local/emulators';
import { startKms, type RunningKms } from '../../tools/local/kms-emulator';
import { ensureMoto } from '../../tools/local/tools';
import { tokenKeysContract, type TokenKeysSubject } from './token-keys.contract';

/**
 * Every TokenKeys implementation other than KMS, run through the same contract. Add new ones here.
 * `rotation: false` for an implementation that holds a single key: it has no older key to test.
 */
const implementations: { label: string; open: () => Promise<TokenKeysSubject>; rotation: boolean }[] = [
  {
    label: 'key file',
    open: async () => ({ keys: await FileTokenKeys.open(mkdtempSync(join(tmpdir(), 'token-keys-'))) }),
    rotation: false,
  },
];

for (const { label, open, rotation } of implementations) {
  let subject: TokenKeysSubject;
  beforeAll(async () => {
    subject = await open();
  });
  tokenKeysContract(label, () => subject, rotation);
}

// KMS: moto's server, started for this file only (about a second), or the environment's endpoint
// (e.g. LocalStack) when REGISTRY_EXTERNAL_ENDPOINTS=1.
let kms: RunningKms | undefined;
let client: KMSClient;
/** Every KMS command sent, to check what is cached and what never reaches KMS. */
const calls: string[] = [];
let signingArn: string;
let olderArn: string;
let kmsSubject: TokenKeysSubject;

async function createKey(spec: KeySpec): Promise<{ arn: string; id: string }> {
  const out = await client.send(new CreateKeyCommand({ KeySpec: spec, KeyUsage: 'SIGN_VERIFY' }));
  return { arn: out.KeyMetadata?.Arn as string, id: out.KeyMetadata?.KeyId as string };
}

beforeAll(async () => {
  if (process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1') {
    client = new KMSClient({});
  } else {
    kms = await startKms(ensureMoto((line) => process.stdout.write(`${line}\n`)));
    client = new KMSClient({ endpoint: kms.endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  }
  client.middlewareStack.add(
    (next, context) => (args) => {
      calls.push(context.commandName as string);
      return next(args);
    },
    { step: 'initialize' },
  );
  [signingArn, olderArn] = (await Promise.all([createKey('ECC_NIST_P256'), createKey('ECC_NIST_P256')])).map(
    (k) => k.arn,
  ) as [string, string];
  const keys = new KmsTokenKeys(client, [signingArn, olderArn]);
  kmsSubject = { keys, olderKid: olderArn.split('/').pop() as string };
}, 300_000); // the first run installs moto with pip (about half a minute)
afterAll(async () => {
  client?.destroy();
  await kms?.stop();
});

tokenKeysContract('kms', () => kmsSubject, true);

describe('KmsTokenKeys', () => {
  beforeEach(() => {
    calls.length = 0;
  });

  test('the kid is the key id, from an ARN or a bare key id', () => {
    const signingId = signingArn.split('/').pop() as string;
    expect(new KmsTokenKeys(client, [signingArn, olderArn]).signingKeyId()).toBe(signingId);
    expect(new KmsTokenKeys(client, [signingId]).signingKeyId()).toBe(signingId);
  });

  test('refuses no keys and aliases', () => {
    expect(() => new KmsTokenKeys(client, [])).toThrow('at least one KMS key');
    expect(() => new KmsTokenKeys(client, ['alias/registry-tokens'])).toThrow('not a KMS key ARN or key id');
    expect(() => new KmsTokenKeys(client, ['arn:aws:kms:us-east-1:123456789012:alias/tokens'])).toThrow(
      'not a KMS key ARN or key id',
    );
  });

  test('a bare key id signs too', async () => {
    const id = signingArn.split('/').pop() as string;
    const keys = new KmsTokenKeys(client, [id]);
    await expect(keys.sign(id, Buffer.from('x'))).resolves.toHaveLength(64);
  });

  test('public keys are fetched once; unknown kids and kids of other keys never reach KMS', async () => {
    const keys = new KmsTokenKeys(client, [signingArn]);
    const kid = keys.signingKeyId();
    const [a, b] = await Promise.all([keys.publicKey(kid), keys.publicKey(kid)]);
    expect(await keys.publicKey(kid)).toBe(a);
    expect(b).toBe(a);
    await expect(keys.publicKey(olderArn.split('/').pop() as string)).resolves.toBeUndefined();
    await expect(keys.publicKey(signingArn)).resolves.toBeUndefined();
    expect(calls).toEqual(['GetPublicKeyCommand']);
  });

  test('sign refuses a kid it does not hold, and inputs over the 4096 bytes KMS takes, without calling KMS', async () => {
    const keys = new KmsTokenKeys(client, [signingArn]);
    await expect(keys.sign('unknown-kid', Buffer.from('x'))).rejects.toThrow('no configured KMS key');
    await expect(keys.sign(keys.signingKeyId(), Buffer.alloc(4097))).rejects.toThrow('over the 4096 bytes');
    await expect(keys.sign(keys.signingKeyId(), Buffer.alloc(4096, 1))).resolves.toHaveLength(64);
    expect(calls).toEqual(['SignCommand']);
  });

  test('a key that is not P-256 is refused with a clear error, and the failure is not cached', async () => {
    const rsa = await createKey('RSA_2048');
    const keys = new KmsTokenKeys(client, [rsa.arn]);
    calls.length = 0;
    const expected = `KMS key ${rsa.arn} is RSA_2048 for SIGN_VERIFY; token keys must be ECC_NIST_P256 keys for SIGN_VERIFY`;
    await expect(keys.publicKey(rsa.id)).rejects.toThrow(expected);
    await expect(keys.publicKey(rsa.id)).rejects.toThrow(expected);
    expect(calls).toEqual(['GetPublicKeyCommand', 'GetPublicKeyCommand']);
  });
});

describe('KmsPublicKeys (the functions that only check tokens: no KMS client)', () => {
  const external = process.env.REGISTRY_EXTERNAL_ENDPOINTS === '1';
  const publicKeys = (arns: string[], options: { endpoint?: string; attemptTimeoutMs?: number } = {}) =>
    external
      ? kmsPublicKeys(arns)
      : kmsPublicKeys(arns, {
          endpoint: kms!.endpoint,
          region: LOCAL_REGION,
          credentials: LOCAL_CREDENTIALS,
          ...options,
        });

  test("gives every configured key's public key as the SDK does, and tokens the signing key signed verify with it", async () => {
    const verifier = publicKeys([signingArn, olderArn]);
    const signer = new KmsTokenKeys(client, [signingArn, olderArn]);
    for (const arn of [signingArn, olderArn]) {
      const kid = arn.split('/').pop() as string;
      const spki = await verifier.publicKey(kid);
      expect(Buffer.from(spki!)).toEqual(Buffer.from((await signer.publicKey(kid))!));
    }
    const input = Buffer.from('header.payload');
    const signature = await signer.sign(signer.signingKeyId(), input);
    const spki = await verifier.publicKey(verifier.signingKeyId());
    const key = { key: Buffer.from(spki!), format: 'der', type: 'spki', dsaEncoding: 'ieee-p1363' } as const;
    expect(verify('sha256', input, key, signature)).toBe(true);
  });

  test('fetches each public key once; other kids are undefined; it signs nothing', async () => {
    const verifier = publicKeys([signingArn]);
    const kid = verifier.signingKeyId();
    const [a, b] = await Promise.all([verifier.publicKey(kid), verifier.publicKey(kid)]);
    expect(b).toBe(a);
    expect(await verifier.publicKey(kid)).toBe(a);
    await expect(verifier.publicKey(olderArn.split('/').pop() as string)).resolves.toBeUndefined();
    await expect(verifier.sign()).rejects.toThrow('only the token service signs tokens');
  });

  test('a key that is not P-256 is refused as KmsTokenKeys refuses it', async () => {
    const rsa = await createKey('RSA_2048');
    await expect(publicKeys([rsa.arn]).publicKey(rsa.id)).rejects.toThrow(
      `KMS key ${rsa.arn} is RSA_2048 for SIGN_VERIFY; token keys must be ECC_NIST_P256 keys for SIGN_VERIFY`,
    );
  });

  test('a key KMS does not know is its NotFoundException; KMS out of reach is UnavailableError within seconds', async () => {
    const missing = signingArn.replace(/key\/.*$/, 'key/00000000-0000-4000-8000-000000000000');
    await expect(publicKeys([missing]).publicKey('00000000-0000-4000-8000-000000000000')).rejects.toMatchObject({
      name: 'NotFoundException',
    });
    if (external) return;
    const started = Date.now();
    // A port nothing listens on (fetch refuses the discard port 9 itself, before connecting).
    const closed = createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', () => ok()));
    const port = (closed.address() as { port: number }).port;
    await new Promise((ok) => closed.close(ok));
    const err = await publicKeys([signingArn], { endpoint: `http://127.0.0.1:${port}`, attemptTimeoutMs: 500 })
      .publicKey(signingArn.split('/').pop() as string)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
