import { AwsJsonClient } from '../aws-json/aws-json-client';
import type { UpstreamCredentials } from '../upstream/http-upstream';

/** Secrets Manager as the JSON protocol names it. */
export const SECRETS_MANAGER_SERVICE = {
  signingName: 'secretsmanager',
  targetPrefix: 'secretsmanager',
  jsonVersion: '1.1',
  endpointEnvId: 'SECRETS_MANAGER',
} as const;

/**
 * What a secret is read with: AwsJsonClient, one signed `GetSecretValue` request, so the blobs and
 * manifests functions bundle no Secrets Manager client (13 KB of each).
 */
export interface SecretReader {
  call<T>(
    operation: 'GetSecretValue',
    input: { SecretId: string },
    options?: { abortSignal?: AbortSignal },
  ): Promise<T>;
}

let shared: SecretReader | undefined;

/** One client per execution environment, created when a secret is first read (region and credentials from the environment). */
function sharedClient(): SecretReader {
  shared ??= new AwsJsonClient(SECRETS_MANAGER_SERVICE);
  return shared;
}

/** How long credentials read from the secret are used before it is read again (a rotated password arrives within this). */
const REREAD_MS = 5 * 60 * 1000;

/**
 * A pull-through rule's upstream credentials from a Secrets Manager secret whose `SecretString` is
 * `{"username": "…", "password": "…"}`: read when the upstream first asks for them, then kept for a
 * few minutes per execution environment. Needs `secretsmanager:GetSecretValue` on that secret only.
 */
export function secretCredentials(
  secretArn: string,
  client: () => SecretReader = sharedClient,
  now: () => number = Date.now,
): () => Promise<UpstreamCredentials> {
  let held: { readonly value: UpstreamCredentials; readonly until: number } | undefined;
  return async () => {
    if (held && held.until > now()) return held.value;
    const out = await client().call<{ SecretString?: string }>(
      'GetSecretValue',
      { SecretId: secretArn },
      { abortSignal: AbortSignal.timeout(5000) },
    );
    let parsed: unknown;
    try {
      parsed = JSON.parse(out.SecretString ?? '');
    } catch {
      parsed = undefined;
    }
    const { username, password } = (parsed ?? {}) as Record<string, unknown>;
    if (typeof username !== 'string' || typeof password !== 'string') {
      throw new Error(`secret ${secretArn} must hold {"username": "…", "password": "…"} as its SecretString`);
    }
    held = { value: { username, password }, until: now() + REREAD_MS };
    return held.value;
  };
}
