import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateKeyCommand, KMSClient, type KeySpec } from '@aws-sdk/client-kms';
import { FileTokenKeys } from '../../lambda/adapters/keyfile/file-token-keys';
import { KmsTokenKeys } from '../../lambda/adapters/kms/kms-token-keys';
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
