/**
 * The joint-operation part of the runtime (Kit syncs, login): the tenancy store over the service's
 * table and client, the clientSecret decryption with the merchant key, the identity-service client.
 * Imported by the Kit and login routes and the tenant read only (see shared/runtime.ts).
 */
import { decryptClientSecret } from '#shared/crypto/rsaOaep';
import { createSealer } from '#shared/crypto/sealer';
import type { KitServices } from '#shared/domain/kit';
import type { SsoServices } from '#shared/domain/sso';
import { extendRuntime, logger } from '#shared/runtime';
import { createIdentityClient } from '#shared/sso/identityClient';
import { TenancyStore } from '#shared/storage/tenancy';

/** Decrypts clientSecrets with the merchant key; logs once which OAEP variant the marketplace uses (spec 7 item 13). */
function clientSecretOpener(privateKeyPem: string) {
  let reported = false;
  return (ciphertext: string) => {
    const { secret, scheme } = decryptClientSecret(privateKeyPem, ciphertext);
    if (!reported) logger.info('clientSecret decrypted', { scheme });
    reported = true;
    return secret;
  };
}

extendRuntime((runtime) => {
  const { settings, secrets, documentClient } = runtime;
  const tenancy = new TenancyStore({ documentClient, tableName: settings.tableName, sealer: createSealer(secrets.dataKeys), auditTtlDays: settings.auditTtlDays });
  const kit: KitServices = { tenancy, logger, ...(secrets.kitPrivateKey ? { openClientSecret: clientSecretOpener(secrets.kitPrivateKey) } : {}) };
  const sso: SsoServices = { tenancy, identity: createIdentityClient({ timeoutMs: settings.sso.identityTimeoutMs }), logger, settings: settings.sso };
  Object.defineProperty(runtime, 'kit', { value: kit, enumerable: true, writable: true, configurable: true });
  Object.defineProperty(runtime, 'sso', { value: sso, enumerable: true, writable: true, configurable: true });
});
