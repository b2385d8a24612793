/**
 * The built-in License signer (port: shared/domain/licenseSigner.ts): a JSON document signed with Ed25519
 * (node:crypto), written as `base64url(payload).base64url(signature)` where the signature is over the ASCII bytes
 * of the first part (the JWS compact idea, without a header). Ed25519 signatures are deterministic: the same
 * request (same facts, same `issuedAt`) always yields the same License.
 *
 * Payload (`LicensePayload`): format version, instance / order / product, the event, the device (SHA-256 hex of
 * the fingerprint string exactly as the marketplace sent it: the client software hashes the fingerprint it builds
 * and compares), validity (ISO instants) and the issue time. The product's client verifies it with the public key
 * (`verifyLicense`) and checks `device` and the validity itself.
 *
 * Key: an Ed25519 private key (PEM, PKCS#8), the optional secret `licenseSigningKey`
 * (`KOOGALLERY_LICENSE_SIGNING_KEY`, shared/secrets.ts). On the `local` stage without a configured key a key is
 * generated once per process (shared/secrets.ts): Licenses signed with it verify only within that process.
 * Without any key `sign` throws (the delivery is retried, then an operator is alerted).
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import type { LicenseRequest, LicenseSigner, SignedLicense } from '#shared/domain/licenseSigner';

export const LICENSE_FORMAT = 'koogallery-online-license/1';

export interface LicensePayload {
  v: typeof LICENSE_FORMAT;
  instanceId: string;
  orderId: string;
  orderLineId: string;
  productId?: string;
  skuCode?: string;
  productName?: string;
  eventId: string;
  /** SHA-256 hex of the device fingerprint; absent when the License is not bound to a device */
  device?: string;
  /** ISO instants */
  effectiveTime: string;
  expireTime?: string;
  issuedAt: string;
  testFlag?: true;
}

/** How the License binds a device: SHA-256 hex of the fingerprint string as sent. */
export const deviceHash = (fingerprint: string) => createHash('sha256').update(fingerprint, 'utf8').digest('hex');

export class LicenseKeyError extends Error {
  override readonly name = 'LicenseKeyError';
}

const toKey = (key: string | KeyObject, kind: 'private' | 'public'): KeyObject => {
  const k = typeof key === 'string' ? (kind === 'private' ? createPrivateKey(key) : createPublicKey(key)) : key;
  if (k.asymmetricKeyType !== 'ed25519') throw new LicenseKeyError(`the License signing key must be an Ed25519 key, not ${k.asymmetricKeyType}`);
  return k;
};

export function payloadOf(r: LicenseRequest): LicensePayload {
  const { instance } = r;
  const payload: LicensePayload = {
    v: LICENSE_FORMAT,
    instanceId: instance.instanceId,
    orderId: instance.orderId,
    orderLineId: instance.orderLineId,
    eventId: r.eventId,
    effectiveTime: r.effectiveTime.toISOString(),
    issuedAt: r.issuedAt.toISOString(),
  };
  if (instance.product.productId) payload.productId = instance.product.productId;
  if (instance.product.skuCode) payload.skuCode = instance.product.skuCode;
  if (instance.product.productName) payload.productName = instance.product.productName;
  if (r.deviceFingerprint) payload.device = deviceHash(r.deviceFingerprint);
  if (r.expireTime) payload.expireTime = r.expireTime.toISOString();
  if (instance.testFlag) payload.testFlag = true;
  return payload;
}

export interface Ed25519SignerOptions {
  /** PEM (PKCS#8) or a KeyObject; undefined: every `sign` throws LicenseKeyError */
  privateKey?: string | KeyObject;
  /** see the port; default: every product requires a fingerprint */
  requiresFingerprint?: LicenseSigner['requiresFingerprint'];
}

export interface Ed25519LicenseSigner extends LicenseSigner {
  /** the public half (PEM, SPKI) the product's client verifies with; undefined without a key */
  publicKeyPem?: string;
}

export function createEd25519LicenseSigner(options: Ed25519SignerOptions): Ed25519LicenseSigner {
  const key = options.privateKey === undefined ? undefined : toKey(options.privateKey, 'private');
  return {
    ...(key ? { publicKeyPem: createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString() } : {}),
    ...(options.requiresFingerprint ? { requiresFingerprint: options.requiresFingerprint } : {}),
    async sign(request: LicenseRequest): Promise<SignedLicense> {
      if (!key) throw new LicenseKeyError('no License signing key is configured (KOOGALLERY_LICENSE_SIGNING_KEY)');
      const body = Buffer.from(JSON.stringify(payloadOf(request)), 'utf8').toString('base64url');
      const signature = sign(null, Buffer.from(body, 'ascii'), key).toString('base64url');
      return { characters: `${body}.${signature}` };
    },
  };
}

/**
 * Verifies a License against the signer's public key (PEM or KeyObject): its payload when the signature holds
 * and the format is ours, else undefined. Validity and device binding are for the caller to check.
 */
export function verifyLicense(publicKey: string | KeyObject, license: string | Uint8Array): LicensePayload | undefined {
  const text = typeof license === 'string' ? license : Buffer.from(license).toString('utf8');
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(text.trim());
  if (!match) return undefined;
  const [, body, signature] = match;
  try {
    if (!verify(null, Buffer.from(body!, 'ascii'), toKey(publicKey, 'public'), Buffer.from(signature!, 'base64url'))) return undefined;
    const payload = JSON.parse(Buffer.from(body!, 'base64url').toString('utf8')) as LicensePayload;
    return payload && payload.v === LICENSE_FORMAT ? payload : undefined;
  } catch {
    return undefined;
  }
}
