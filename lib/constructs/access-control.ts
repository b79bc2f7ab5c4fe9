import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Alias, Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import { singleTable } from './storage';
import type { StorageGrantee } from './storage';

/** `none`: open registry; `basic`: Basic credentials on every request; `token`: Docker token auth. */
export type AuthMode = 'none' | 'basic' | 'token';
export const AUTH_MODES: readonly AuthMode[] = ['none', 'basic', 'token'];

/** Who may do what (`docs/access-control-infra.md`). */
export interface RegistryAuthProps {
  /**
   * `basic` checks Basic credentials against the accounts table on every request; `token` has
   * clients sign in at the token service (`/token`) and present the JWT it signs with KMS.
   * @default 'token': nobody may pull or push until the admin CLI adds a user; `none` makes the
   *   registry open to anyone who can reach it, on purpose
   */
  readonly mode?: AuthMode;
  /**
   * Repository patterns anyone may pull from without signing in (`*` matches any characters, `/`
   * included): `['public/*']`. Only with `basic` or `token`.
   * @default - nothing is anonymous
   */
  readonly anonymousPull?: string[];
  /**
   * The `service` of challenges and the audience of tokens. Only with `basic` or `token`.
   * @default 'registry'
   */
  readonly service?: string;
  /**
   * Failed password sign-ins per user name within 15 minutes before further ones get 429. Only with
   * `basic` or `token`.
   * @default 10
   */
  readonly maxFailedSignIns?: number;
  /**
   * How long an access token is valid, 1 to 60 minutes. Only with `token`.
   * @default Duration.minutes(5)
   */
  readonly tokenTtl?: Duration;
  /**
   * How long a refresh token (`offline_token=true`, OAuth2 `access_type=offline`) is valid, 1 hour
   * to 365 days; a signing key generation must stay trusted this long after it stopped signing.
   * Only with `token`.
   * @default Duration.days(30)
   */
  readonly refreshTokenTtl?: Duration;
  /**
   * One KMS signing key (ECC_NIST_P256, SIGN_VERIFY) per name; the first signs, all are trusted.
   * To rotate, put a new name first and deploy; drop the old name once its refresh tokens have
   * expired (`refreshTokenTtl` after that deployment). Never reuse a name. Only with `token`.
   * @default ['1']
   */
  readonly signingKeyGenerations?: string[];
}

export interface RegistryAccessControlProps {
  readonly auth: RegistryAuthProps;
  /**
   * What happens to the accounts table when it leaves the stack. Signing keys are always retained.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/** The issuer of tokens; only the token service and the registry functions compare it. */
export const TOKEN_ISSUER = 'registry-token-service';
const DEFAULTS = {
  service: 'registry',
  tokenTtl: Duration.minutes(5),
  refreshTokenTtl: Duration.days(30),
  maxFailedSignIns: 10,
  signingKeyGenerations: ['1'],
} as const;

/** The item actions signing in uses: users and tokens (GetItem), failure counters (PutItem, UpdateItem). */
export const ACCOUNTS_ACTIONS = ['GetItem', 'PutItem', 'UpdateItem'] as const;

/**
 * Access control (`auth.mode` is `basic` or `token`): the accounts table (users, robot tokens and
 * sign-in failure counters, written by the admin CLI with the operator's credentials), and in token
 * mode the KMS keys that sign tokens. Its two `bind*` methods grant exactly what each kind of code
 * calls and set the environment that goes with it, like RegistryStorage's grants.
 */
export class RegistryAccessControl extends Construct {
  readonly mode: Exclude<AuthMode, 'none'>;
  readonly accountsTable: TableV2;
  /** The token signing keys, signing key first; empty unless `mode` is `token`. */
  readonly signingKeys: readonly Key[];
  private readonly environment: Readonly<Record<string, string>>;

  constructor(scope: Construct, id: string, props: RegistryAccessControlProps) {
    super(scope, id);
    const auth = validateAuth(props.auth);
    if (auth.mode === 'none') throw new Error('RegistryAccessControl needs auth.mode basic or token');
    this.mode = auth.mode;

    // Password and robot-token hashes, and sign-in failure counters (expired by TTL).
    this.accountsTable = singleTable(this, 'Accounts', props.removalPolicy ?? RemovalPolicy.RETAIN);

    const stackName = Stack.of(this).stackName;
    this.signingKeys =
      auth.mode === 'token'
        ? auth.signingKeyGenerations.map((generation) => {
            // The construct id, and so the logical id, follows the generation's name, not its place
            // in the list: reordering the list never replaces a key.
            const key = new Key(this, `TokenSigningKey${generation}`, {
              description: `Registry ${stackName}: signs access tokens (generation ${generation}); the private key never leaves KMS`,
              keySpec: KeySpec.ECC_NIST_P256,
              keyUsage: KeyUsage.SIGN_VERIFY,
              // Asymmetric keys cannot rotate automatically; rotation is a new generation (see above).
              enableKeyRotation: false,
              removalPolicy: RemovalPolicy.RETAIN,
            });
            new Alias(this, `TokenSigningAlias${generation}`, {
              aliasName: `alias/${stackName}/token-signing-${generation}`,
              targetKey: key,
            });
            return key;
          })
        : [];

    const common = {
      [ENV.authMode]: auth.mode,
      [ENV.authService]: auth.service,
      [ENV.accountsTable]: this.accountsTable.tableName,
      [ENV.maxFailedSignIns]: String(auth.maxFailedSignIns),
      ...(auth.anonymousPull.length > 0 ? { [ENV.anonymousPull]: auth.anonymousPull.join(',') } : {}),
    };
    this.environment =
      auth.mode === 'token'
        ? {
            ...common,
            [ENV.authIssuer]: TOKEN_ISSUER,
            // Key ARNs, not aliases: the key id in an ARN is each token's `kid`.
            [ENV.tokenKeys]: this.signingKeys.map((k) => k.keyArn).join(','),
            [ENV.tokenTtl]: String(auth.tokenTtl.toSeconds()),
            [ENV.refreshTtl]: String(auth.refreshTokenTtl.toSeconds()),
          }
        : common;
  }

  /**
   * Registry code that checks requests (every registry function, and the uploader): in token mode it
   * verifies tokens with the public keys (`kms:GetPublicKey`); in basic mode it signs callers in
   * against the accounts table (GetItem, PutItem, UpdateItem). The accounts table's name is set in
   * token mode too, as the configuration requires it whenever auth is on; no grant goes with it there.
   */
  bindRegistry(fn: StorageGrantee): void {
    this.setEnvironment(fn);
    if (this.mode === 'token') this.grantPublicKeys(fn);
    else this.grantAccounts(fn);
  }

  /**
   * The token service, which only works in token mode (elsewhere it answers 404 with no grant):
   * signs in against the accounts table, signs tokens with the first key and verifies refresh tokens
   * with any trusted key.
   */
  bindTokenService(fn: StorageGrantee): void {
    if (this.mode !== 'token') return;
    this.setEnvironment(fn);
    this.grantAccounts(fn);
    this.grantPublicKeys(fn);
    const [signingKey] = this.signingKeys;
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Sign'],
        // Only the current signing key: older generations verify and never sign again.
        resources: [signingKey!.keyArn],
        conditions: {
          StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' },
        },
      }),
    );
  }

  /** Sets `REGISTRY_PUBLIC_URL` (the origin of the token realm) on code bound with `bindRegistry`/`bindTokenService`. */
  setPublicUrl(fn: StorageGrantee, url: string): void {
    if (this.mode === 'token') fn.addEnvironment(ENV.publicUrl, url);
  }

  private setEnvironment(fn: StorageGrantee): void {
    for (const [name, value] of Object.entries(this.environment)) fn.addEnvironment(name, value);
  }

  private grantAccounts(fn: StorageGrantee): void {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ACCOUNTS_ACTIONS.map((a) => `dynamodb:${a}`),
        resources: [this.accountsTable.tableArn],
      }),
    );
  }

  private grantPublicKeys(fn: StorageGrantee): void {
    fn.addToRolePolicy(
      new PolicyStatement({ actions: ['kms:GetPublicKey'], resources: this.signingKeys.map((k) => k.keyArn) }),
    );
  }
}

/** `RegistryAuthProps` with defaults applied, checked. */
export interface ResolvedAuth {
  readonly mode: AuthMode;
  readonly anonymousPull: readonly string[];
  readonly service: string;
  readonly maxFailedSignIns: number;
  readonly tokenTtl: Duration;
  readonly refreshTokenTtl: Duration;
  readonly signingKeyGenerations: readonly string[];
}

/** Applies the defaults and refuses settings the functions' configuration would refuse at cold start. */
export function validateAuth(auth: RegistryAuthProps = {}): ResolvedAuth {
  // Safe unless told otherwise: a registry reachable from the internet must not take anonymous pushes.
  const mode = auth.mode ?? 'token';
  if (!AUTH_MODES.includes(mode)) throw new Error(`auth.mode must be one of ${AUTH_MODES.join(', ')}, got "${mode}"`);
  const refuseUnless = (modes: AuthMode[], names: (keyof RegistryAuthProps)[]) => {
    for (const name of names) {
      if (auth[name] !== undefined && !modes.includes(mode)) {
        throw new Error(`auth.${name} has no effect with auth.mode "${mode}"; it needs ${modes.join(' or ')}`);
      }
    }
  };
  refuseUnless(['basic', 'token'], ['anonymousPull', 'service', 'maxFailedSignIns']);
  refuseUnless(['token'], ['tokenTtl', 'refreshTokenTtl', 'signingKeyGenerations']);

  const anonymousPull = auth.anonymousPull ?? [];
  for (const pattern of anonymousPull) {
    // The list travels comma-separated; repository names are lower-case [a-z0-9._/-].
    if (!/^[a-z0-9._/*-]+$/.test(pattern)) {
      throw new Error(
        `auth.anonymousPull patterns are repository names with * wildcards ([a-z0-9._/-] and *), got "${pattern}"`,
      );
    }
  }
  const service = auth.service ?? DEFAULTS.service;
  // It is written into WWW-Authenticate as a quoted string, and compared with what clients send back.
  if (!/^[A-Za-z0-9._:/-]{1,253}$/.test(service)) {
    throw new Error(`auth.service must be 1-253 characters of [A-Za-z0-9._:/-], got "${service}"`);
  }
  const maxFailedSignIns = auth.maxFailedSignIns ?? DEFAULTS.maxFailedSignIns;
  if (!Number.isInteger(maxFailedSignIns) || maxFailedSignIns < 1 || maxFailedSignIns > 1000) {
    throw new Error(`auth.maxFailedSignIns must be an integer from 1 to 1000, got ${maxFailedSignIns}`);
  }
  const tokenTtl = auth.tokenTtl ?? DEFAULTS.tokenTtl;
  const refreshTokenTtl = auth.refreshTokenTtl ?? DEFAULTS.refreshTokenTtl;
  checkSeconds('auth.tokenTtl', tokenTtl, 60, 3600);
  checkSeconds('auth.refreshTokenTtl', refreshTokenTtl, 3600, 365 * 86_400);

  const signingKeyGenerations = auth.signingKeyGenerations ?? [...DEFAULTS.signingKeyGenerations];
  if (signingKeyGenerations.length === 0) throw new Error('auth.signingKeyGenerations needs at least one name');
  for (const generation of signingKeyGenerations) {
    if (!/^[A-Za-z0-9]{1,32}$/.test(generation)) {
      throw new Error(`auth.signingKeyGenerations names must be 1-32 letters or digits, got "${generation}"`);
    }
  }
  if (new Set(signingKeyGenerations).size !== signingKeyGenerations.length) {
    throw new Error(`auth.signingKeyGenerations names must be unique, got ${signingKeyGenerations.join(', ')}`);
  }
  return { mode, anonymousPull, service, maxFailedSignIns, tokenTtl, refreshTokenTtl, signingKeyGenerations };
}

function checkSeconds(name: string, value: Duration, min: number, max: number): void {
  if (value.isUnresolved()) throw new Error(`${name} must be a concrete duration`);
  const seconds = value.toSeconds({ integral: false });
  if (!Number.isInteger(seconds) || seconds < min || seconds > max) {
    throw new Error(`${name} must be a whole number of seconds from ${min} to ${max}, got ${seconds}`);
  }
}
