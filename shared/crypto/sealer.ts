/**
 * Encryption at rest for credentials and personal data kept in the table (tenant passwords, buyer phone
 * and e-mail). AES-256-GCM with a 32-byte data key from Secrets Manager / SSM (env locally).
 * Sealed values carry the id of the key that sealed them, so a new key can be introduced while values
 * sealed with the old one still open: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts).
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';

export interface Sealer {
  seal(plaintext: string): string;
  open(sealed: string): string;
}

export class SealerError extends Error {
  override readonly name = 'SealerError';
}

/** Key material: 32 bytes as base64, or any passphrase (hashed with SHA-256; meant for local use). */
function keyBytes(material: string): Buffer {
  const raw = Buffer.from(material, 'base64');
  return raw.length === 32 && raw.toString('base64').replace(/=+$/, '') === material.replace(/=+$/, '')
    ? raw
    : createHash('sha256').update(material, 'utf8').digest();
}

const keyId = (key: Buffer) => createHash('sha256').update(key).digest('base64url').slice(0, 8);

/** `keys[0]` seals; every key in the list opens (rotation: put the new key first, keep the old one). */
export function createSealer(keys: readonly string[]): Sealer {
  if (keys.length === 0) throw new SealerError('no data key configured');
  const ring = new Map(keys.map((material) => {
    const key = keyBytes(material);
    return [keyId(key), key] as const;
  }));
  const [currentId, currentKey] = [...ring.entries()][0]!;
  return {
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv);
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return ['v1', currentId, iv, cipher.getAuthTag(), ciphertext]
        .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
        .join('.');
    },
    open(sealed) {
      const [version, id, iv, tag, ciphertext] = sealed.split('.');
      const key = id === undefined ? undefined : ring.get(id);
      if (version !== 'v1' || !key || !iv || !tag || ciphertext === undefined)
        throw new SealerError('sealed value has an unknown format or key');
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      try {
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch {
        throw new SealerError('sealed value failed authentication');
      }
    },
  };
}
