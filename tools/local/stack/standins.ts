import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Local stand-ins for the AWS services the stack uses besides S3 and DynamoDB, speaking their
 * JSON 1.1 protocols: KMS (the token signing keys: `Sign`, `GetPublicKey`, `DescribeKey`),
 * EventBridge (`PutEvents`) and Secrets Manager (a pull-through cache's upstream credentials:
 * `GetSecretValue`). Keys persist in the data directory, so tokens survive a restart; secrets are
 * held in memory only, seeded by the local stack at each start (their values never reach the disk).
 * Authorization happens before a request gets here (./aws-endpoint).
 */

/** An answer in the services' shape: 200 with a JSON body, or 400 with `__type` and `message`. */
export interface ServiceAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

export interface PublishedEvent {
  readonly Source?: string;
  readonly DetailType?: string;
  readonly Detail?: string;
  readonly EventBusName?: string;
  readonly Resources?: string[];
}

interface Key {
  readonly arn: string;
  readonly keySpec: string;
  readonly privateKey: KeyObject;
}

interface StoredSecret {
  readonly arn: string;
  readonly name: string;
  readonly secretString: string;
  readonly versionId: string;
  /** Epoch seconds, as the JSON protocol carries timestamps. */
  readonly createdDate: number;
}

/** The services the stand-ins answer for, by their signing names. */
export type StandInService = 'kms' | 'events' | 'secretsmanager';

/** The full ARN of a secret: `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>-<6 characters>`. */
const SECRET_ARN = /^arn:[^:]+:secretsmanager:[^:]+:\d{12}:secret:(.+)-[A-Za-z0-9]{6}$/;

const fault = (type: string, message: string): ServiceAnswer => ({ status: 400, body: { __type: type, message } });

export class AwsStandIns {
  private readonly keys = new Map<string, Key>();
  private readonly secrets = new Map<string, StoredSecret>();

  constructor(
    private readonly dataDir: string,
    private readonly onEvent: (event: PublishedEvent) => void = () => {},
  ) {
    mkdirSync(join(dataDir, 'kms'), { recursive: true });
  }

  /** Creates (or reopens, from the data directory) the key CloudFormation would create. */
  addKey(id: string, arn: string, keySpec: string): void {
    if (keySpec !== 'ECC_NIST_P256') throw new Error(`KMS key ${id}: only ECC_NIST_P256 keys are stood in for`);
    const file = join(this.dataDir, 'kms', `${id}.pem`);
    if (!existsSync(file)) {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    }
    this.keys.set(id, { arn, keySpec, privateKey: createPrivateKey(readFileSync(file)) });
  }

  /**
   * Holds a secret as CloudFormation or an operator would have created it, under its full ARN (the
   * name followed by `-` and six characters, as Secrets Manager makes them), with its current value
   * (`AWSCURRENT`). Adding it again replaces the value with a new version.
   */
  addSecret(arn: string, secretString: string): void {
    const name = SECRET_ARN.exec(arn)?.[1];
    if (!name) throw new Error(`secret ${arn}: not a secret's full ARN (…:secret:<name>-<6 characters>)`);
    this.secrets.set(arn, {
      arn,
      name,
      secretString,
      versionId: randomUUID(),
      createdDate: Math.floor(Date.now() / 1000),
    });
  }

  /**
   * The full ARN of the secret a `SecretId` names (its full ARN, its ARN without the six characters,
   * or its name), as IAM authorizes a call on it; undefined when there is none.
   */
  secretArnOf(secretId: string): string | undefined {
    return this.secretOf(secretId)?.arn;
  }

  handle(service: StandInService, operation: string, body: Record<string, unknown>): ServiceAnswer {
    switch (`${service}.${operation}`) {
      case 'kms.Sign':
        return this.sign(body);
      case 'kms.GetPublicKey':
      case 'kms.DescribeKey':
        return this.describeKey(operation, body);
      case 'events.PutEvents':
        return this.putEvents(body);
      case 'secretsmanager.GetSecretValue':
        return this.getSecretValue(body);
      default:
        return fault('UnknownOperationException', `${service}:${operation} is not stood in for locally`);
    }
  }

  private key(keyId: unknown): Key | undefined {
    const id = String(keyId ?? '').replace(/^arn:[^:]+:kms:[^:]*:[^:]*:key\//, '');
    return this.keys.get(id);
  }

  private sign(body: Record<string, unknown>): ServiceAnswer {
    const key = this.key(body.KeyId);
    if (!key) return fault('NotFoundException', `Key '${String(body.KeyId)}' does not exist`);
    if (body.SigningAlgorithm !== 'ECDSA_SHA_256' || (body.MessageType ?? 'RAW') !== 'RAW') {
      return fault('InvalidKeyUsageException', 'the local KMS signs RAW messages with ECDSA_SHA_256 only');
    }
    const message = Buffer.from(String(body.Message ?? ''), 'base64');
    if (message.length === 0 || message.length > 4096) {
      return fault('ValidationException', 'Message must be 1 to 4096 bytes');
    }
    const signature = sign('sha256', message, { key: key.privateKey, dsaEncoding: 'der' });
    return {
      status: 200,
      body: { KeyId: key.arn, Signature: signature.toString('base64'), SigningAlgorithm: 'ECDSA_SHA_256' },
    };
  }

  private describeKey(operation: string, body: Record<string, unknown>): ServiceAnswer {
    const key = this.key(body.KeyId);
    if (!key) return fault('NotFoundException', `Key '${String(body.KeyId)}' does not exist`);
    const common = { KeyId: key.arn, KeySpec: key.keySpec, KeyUsage: 'SIGN_VERIFY' };
    if (operation === 'DescribeKey') {
      return { status: 200, body: { KeyMetadata: { ...common, Arn: key.arn, Enabled: true, KeyState: 'Enabled' } } };
    }
    const spki = createPublicKey(key.privateKey).export({ type: 'spki', format: 'der' });
    return {
      status: 200,
      body: { ...common, PublicKey: spki.toString('base64'), SigningAlgorithms: ['ECDSA_SHA_256'] },
    };
  }

  private putEvents(body: Record<string, unknown>): ServiceAnswer {
    const entries = (body.Entries as PublishedEvent[] | undefined) ?? [];
    if (entries.length === 0 || entries.length > 10) {
      return fault('ValidationException', 'Entries must hold 1 to 10 events');
    }
    for (const entry of entries) this.onEvent(entry);
    return { status: 200, body: { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: randomUUID() })) } };
  }

  private secretOf(secretId: string): StoredSecret | undefined {
    const exact = this.secrets.get(secretId);
    if (exact) return exact;
    for (const secret of this.secrets.values()) {
      if (secret.name === secretId || secret.arn.slice(0, -7) === secretId) return secret;
    }
    return undefined;
  }

  private getSecretValue(body: Record<string, unknown>): ServiceAnswer {
    const secret = this.secretOf(String(body.SecretId ?? ''));
    if (!secret) return fault('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    // One version per secret, the current one: another version or stage is not there.
    if (body.VersionId !== undefined && body.VersionId !== secret.versionId) {
      return fault(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for VersionId: ${String(body.VersionId)}`,
      );
    }
    if (body.VersionStage !== undefined && body.VersionStage !== 'AWSCURRENT') {
      return fault(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for staging label: ${String(body.VersionStage)}`,
      );
    }
    return {
      status: 200,
      body: {
        ARN: secret.arn,
        Name: secret.name,
        SecretString: secret.secretString,
        VersionId: secret.versionId,
        VersionStages: ['AWSCURRENT'],
        CreatedDate: secret.createdDate,
      },
    };
  }
}
