/**
 * YOUR PRODUCT'S LICENSES ARE MADE HERE (online License, spec 3.12). Return a LicenseSigner (contract in
 * shared/domain/licenseSigner.ts) that turns a `getLicenseAsync` request into your client software's License.
 * The default signs a JSON document with Ed25519 (shared/provisioning/ed25519LicenseSigner.ts) using the secret
 * `licenseSigningKey` (KOOGALLERY_LICENSE_SIGNING_KEY; a per-process key on the local stage), and requires a device
 * fingerprint for every product: pass `requiresFingerprint: (product) => ...` to relax that per product.
 */
import type { Settings } from '#shared/config';
import type { LicenseSigner } from '#shared/domain/licenseSigner';
import type { Secrets } from '#shared/secrets';
import { createEd25519LicenseSigner } from '#shared/provisioning/ed25519LicenseSigner';

export function createProductLicenseSigner(_settings: Settings, secrets: Secrets): LicenseSigner {
  return createEd25519LicenseSigner({ ...(secrets.licenseSigningKey ? { privateKey: secrets.licenseSigningKey } : {}) });
}
