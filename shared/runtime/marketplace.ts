/**
 * The marketplace-facing part of the runtime: the open-API client, the product's provisioner (and the
 * built-in one for console debug calls) and the product's notifier. Imported by the production-interface
 * routes (V2 and V1), the internal routes and the scheduled jobs; the joint-operation Kit and login
 * routes use none of it and leave it out of their bundles (see shared/runtime.ts).
 */
import { createMarketplaceClient } from '#shared/openapi/client';
import { createProductNotifier } from '#shared/product/notifier';
import { createProductProvisioner } from '#shared/product/provisioner';
import { createDefaultProvisioner } from '#shared/provisioning/defaultProvisioner';
import { extendRuntime, logger } from '#shared/runtime';

extendRuntime((runtime) => {
  const { settings, secrets, services } = runtime;
  const parts = {
    marketplace: createMarketplaceClient({
      baseUrls: settings.marketplaceUrls,
      ak: secrets.ak,
      sk: secrets.sk,
      // the usage push is signed with the access key bound to the basic interfaces (spec 2.7)
      usageSigningKey: secrets.accessKeys[0],
      timeoutMs: settings.openApiTimeoutMs,
    }),
    provisioner: createProductProvisioner(settings, secrets),
    debugProvisioner: createDefaultProvisioner({ frontEndUrl: settings.frontEndUrl, adminUrl: settings.adminUrl }),
    notifier: createProductNotifier(settings, services.store, logger),
  };
  for (const [name, value] of Object.entries(parts)) Object.defineProperty(services, name, { value, enumerable: true, writable: true, configurable: true });
});
