/**
 * YOUR PRODUCT PLUGS IN HERE. Return a Provisioner (contract in shared/domain/provisioner.ts) that
 * creates the tenant in your product. The default answers with the built-in one, which creates nothing
 * and derives a login from config; PROVISIONER=webhook asks your product over a signed webhook instead
 * (shared/provisioning/webhookProvisioner.ts, README "Webhook provisioner"); PROVISIONER=async hands the
 * request over the same way and your product answers later through the ready route (README
 * "Asynchronous provisioner").
 */
import type { Settings } from '#shared/config';
import { ConfigError } from '#shared/config';
import { loadSecrets, type Secrets } from '#shared/secrets';
import { createDefaultProvisioner } from '#shared/provisioning/defaultProvisioner';
import { createWebhookProvisioner } from '#shared/provisioning/webhookProvisioner';
import type { Provisioner } from '#shared/domain/provisioner';

/** `secrets`: the runtime's (already loaded); without them the secret is read when first needed. */
export function createProductProvisioner(settings: Settings, secrets?: Pick<Secrets, 'provisionerWebhookSecret'>): Provisioner {
  if (settings.provisioner !== 'default' && settings.provisionerWebhook) {
    // the secrets' own check names it for `webhook` only: an `async` deployment without it fails here, at start
    if (secrets && !secrets.provisionerWebhookSecret) throw new ConfigError('missing secret provisionerWebhookSecret (PROVISIONER_WEBHOOK_SECRET)');
    return createWebhookProvisioner({
      url: settings.provisionerWebhook.url,
      timeoutMs: settings.provisionerWebhook.timeoutMs,
      ...(settings.provisioner === 'async' ? { answersLater: true, resendAfterMs: settings.provisionerWebhook.resendAfterMs } : {}),
      secret: async () => {
        const secret = (secrets ?? (await loadSecrets(settings))).provisionerWebhookSecret;
        if (!secret) throw new ConfigError('missing secret provisionerWebhookSecret (PROVISIONER_WEBHOOK_SECRET)');
        return secret;
      },
    });
  }
  return createDefaultProvisioner({ frontEndUrl: settings.frontEndUrl, adminUrl: settings.adminUrl });
}
