/** What the SDK's SigV4 auth reads from a client's config to sign a request. */
interface SignerConfig {
  signer: (authScheme?: AuthSchemeShape) => Promise<unknown>;
  readonly credentials?: unknown;
}

interface AuthSchemeShape {
  readonly name?: string;
  readonly signingName?: string;
  readonly signingRegion?: string;
  readonly signingRegionSet?: readonly string[];
}

/**
 * Keeps the client's SigV4 signer from one call to the next. Without a signer of its own in the
 * config, the SDK builds a new one for every request it signs, from a copy of the whole client
 * config (`resolveAwsSdkSigV4Config`): a few hundred property copies per call that yield the same
 * signer each time. The signer is kept per auth scheme the endpoint names (signing name and region)
 * and per credential provider, so a client given other credentials later signs with those; each
 * call still passes its signing date, region and service, as before.
 */
export function reuseSigner(client: { readonly config: object }): void {
  const config = client.config as SignerConfig;
  const make = config.signer;
  if (typeof make !== 'function') return;
  const kept = new Map<string, { readonly credentials: unknown; readonly signer: Promise<unknown> }>();
  config.signer = (authScheme) => {
    const key = authScheme
      ? [
          authScheme.name,
          authScheme.signingName,
          authScheme.signingRegion,
          authScheme.signingRegionSet?.join(','),
        ].join('|')
      : '';
    const credentials = config.credentials;
    const entry = kept.get(key);
    if (entry && entry.credentials === credentials) return entry.signer;
    const signer = make(authScheme);
    kept.set(key, { credentials, signer });
    signer.catch(() => {
      if (kept.get(key)?.signer === signer) kept.delete(key);
    });
    return signer;
  };
}
