/**
 * The License part of the runtime: the License 2.0 code store, the online-License store and the
 * product's License signer, over the service's table and client. Imported by the License callbacks,
 * the licenses routes and the delivery job only (see shared/runtime.ts).
 */
import { createSealer } from '#shared/crypto/sealer';
import { createProductLicenseSigner } from '#shared/product/licenseSigner';
import { extendRuntime } from '#shared/runtime';
import { LicenseStore } from '#shared/storage/licenses';
import { OnlineLicenseStore } from '#shared/storage/onlineLicenses';

extendRuntime(({ settings, secrets, services, documentClient }) => {
  const define = (name: string, value: unknown) => Object.defineProperty(services, name, { value, enumerable: true, writable: true, configurable: true });
  define('licenses', new LicenseStore({ documentClient, tableName: settings.tableName, auditTtlDays: settings.auditTtlDays }));
  define('onlineLicenses', new OnlineLicenseStore({ documentClient, tableName: settings.tableName, sealer: createSealer(secrets.dataKeys), auditTtlDays: settings.auditTtlDays }));
  define('licenseSigner', createProductLicenseSigner(settings, secrets));
});
