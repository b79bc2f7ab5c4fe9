/** The package ships no types; this is the part the KMS adapter uses. */
declare module 'ecdsa-sig-formatter' {
  /** DER `SEQUENCE { r, s }` → base64url of the fixed-width JOSE `r‖s` (64 bytes for ES256). */
  export function derToJose(signature: Buffer | string, alg: 'ES256' | 'ES384' | 'ES512'): string;
}
