/**
 * The keys that sign and verify the registry's tokens (ES256). Deployed, the private keys live in
 * KMS and never leave it; local mode keeps one in its data directory.
 */
export interface TokenKeys {
  /** The key id (`kid`) new tokens are signed with. */
  signingKeyId(): string;
  /** Signs the JWS signing input with the named key; returns the raw 64-byte `r‖s` ES256 signature. */
  sign(kid: string, signingInput: Uint8Array): Promise<Uint8Array>;
  /**
   * The public key (SPKI, DER) of a key this registry trusts, or undefined for any other `kid`. Only
   * configured keys are ever looked up, whatever a token's header claims.
   */
  publicKey(kid: string): Promise<Uint8Array | undefined>;
}
