/**
 * YOUR PRODUCT PLUGS IN HERE. Return a Provisioner (contract in shared/provisioning/provisioner.ts)
 * that creates the tenant in your product. The default answers with the built-in one, which creates
 * nothing and derives a login from config.
 */
import type { Settings } from '#shared/config';
import { createDefaultProvisioner } from '#shared/provisioning/defaultProvisioner';
import type { Provisioner } from '#shared/domain/provisioner';

export function createProductProvisioner(settings: Settings): Provisioner {
  return createDefaultProvisioner({ frontEndUrl: settings.frontEndUrl, adminUrl: settings.adminUrl });
}
