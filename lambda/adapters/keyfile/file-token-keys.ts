import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TokenKeys } from '../../core/ports/token-keys';

const FILE = 'token-signing-key.pem';

/**
 * The local stand-in for the KMS signing key: one P-256 key in a file of the local data directory
 * (mode 0600), created on first use. Same algorithm, same `kid` scheme as far as clients can tell.
 */
export class FileTokenKeys implements TokenKeys {
  private constructor(
    private readonly privateKey: KeyObject,
    private readonly spki: Uint8Array,
    private readonly kid: string,
  ) {}

  static async open(dir: string): Promise<FileTokenKeys> {
    const path = join(dir, FILE);
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch {
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      await mkdir(dir, { recursive: true });
      await writeFile(path, pem, { mode: 0o600, flag: 'wx' }).catch(async () => {
        pem = await readFile(path, 'utf8');
      });
    }
    const privateKey = createPrivateKey(pem);
    const spki = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }));
    const kid = createHash('sha256').update(spki).digest('base64url').slice(0, 16);
    return new FileTokenKeys(privateKey, spki, kid);
  }

  signingKeyId(): string {
    return this.kid;
  }

  async sign(kid: string, signingInput: Uint8Array): Promise<Uint8Array> {
    if (kid !== this.kid) throw new Error(`no signing key "${kid}"`);
    return sign('sha256', signingInput, { key: this.privateKey, dsaEncoding: 'ieee-p1363' });
  }

  async publicKey(kid: string): Promise<Uint8Array | undefined> {
    return kid === this.kid ? this.spki : undefined;
  }
}
