import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { UpstreamCredentials } from '../upstream/http-upstream';

let shared: SecretsManagerClient | undefined;

/** One client per execution environment, created when a secret is first read (region and credentials from the environment). */
function sharedClient(): SecretsManagerClient {
  shared ??= new SecretsManagerClient({});
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
  client: () => SecretsManagerClient = sharedClient,
  now: () => number = Date.now,
): () => Promise<UpstreamCredentials> {
  let held: { readonly value: UpstreamCredentials; readonly until: number } | undefined;
  return async () => {
    if (held && held.until > now()) return held.value;
    const out = await client().send(new GetSecretValueCommand({ SecretId: secretArn }), {
      abortSignal: AbortSignal.timeout(5000),
    });
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
