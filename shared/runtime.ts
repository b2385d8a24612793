/**
 * The composition root: builds the services once per Lambda container (or test module) from settings
 * and secrets. Handlers call getRuntime(); nothing else constructs clients.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { loadSettings, type Settings } from './config.ts';
import { createSealer } from '#shared/crypto/sealer';
import { createCatalogue, DEFAULT_RETENTION_DAYS, RETENTION_MARGIN_DAYS } from '#shared/domain/catalogue';
import { DAY_MS, type InstanceTimerPolicy } from '#shared/domain/timers';
import { productCatalogue } from '#shared/product/catalogue';
import { createLogAlerts } from '#shared/notify/alerts';
import { createProductNotifier } from '#shared/product/notifier';
import type { Services } from '#shared/domain/call';
import { createMarketplaceClient } from '#shared/openapi/client';
import { createProductProvisioner } from '#shared/product/provisioner';
import { createProductLicenseSigner } from '#shared/product/licenseSigner';
import { OnlineLicenseStore } from '#shared/storage/onlineLicenses';
import { createDefaultProvisioner } from '#shared/provisioning/defaultProvisioner';
import { loadSecrets, type Secrets } from './secrets.ts';
import { createStore } from '#shared/storage/store';
import { TenancyStore } from '#shared/storage/tenancy';
import { LicenseStore } from '#shared/storage/licenses';
import { decryptClientSecret } from '#shared/crypto/rsaOaep';
import type { KitServices } from '#shared/domain/kit';
import type { SsoServices } from '#shared/domain/sso';
import { createIdentityClient } from '#shared/sso/identityClient';

export interface Runtime {
  settings: Settings;
  secrets: Secrets;
  services: Services;
  /** joint-operation Kit syncs */
  kit: KitServices;
  /** joint-operation login */
  sso: SsoServices;
}

export const logger = new Logger({ serviceName: 'koogallery-merchant' });

let runtime: Promise<Runtime> | undefined;

export function getRuntime(): Promise<Runtime> {
  runtime ??= build().catch((error: unknown) => {
    runtime = undefined; // let the next invocation try again (e.g. SSM briefly unavailable)
    throw error;
  });
  return runtime;
}

const KEY_REFRESH_INTERVAL_MS = 60_000;
let lastKeyRefresh = 0;

/**
 * Re-reads the access keys from SSM (at most once a minute per container) after a signature did not
 * verify: a key changed in the console and in SSM is picked up by warm containers without a redeploy.
 * Returns whether the keys changed.
 */
export async function refreshAccessKeys(): Promise<boolean> {
  const current = await getRuntime();
  if (!current.settings.secretsParameter || Date.now() - lastKeyRefresh < KEY_REFRESH_INTERVAL_MS) return false;
  lastKeyRefresh = Date.now();
  const fresh = await loadSecrets(current.settings, process.env, { forceFetch: true });
  if (fresh.accessKeys.join('\n') === current.secrets.accessKeys.join('\n')) return false;
  current.secrets.accessKeys = fresh.accessKeys;
  return true;
}

async function build(): Promise<Runtime> {
  const settings = loadSettings();
  const secrets = await loadSecrets(settings);
  const catalogue = createCatalogue([...settings.catalogue, ...productCatalogue]);
  const timers: InstanceTimerPolicy = {
    expiryGraceMs: settings.expiryGraceMs,
    retentionMs: (instance) =>
      ((catalogue.lookup(instance.product)?.retentionDays ?? DEFAULT_RETENTION_DAYS) + RETENTION_MARGIN_DAYS) * DAY_MS,
  };
  const store = createStore({
    endpoint: settings.dynamodbEndpoint,
    tableName: settings.tableName,
    sealer: createSealer(secrets.dataKeys),
    auditTtlDays: settings.auditTtlDays,
    instanceTimers: timers,
  });
  const services: Services = {
    store,
    // License 2.0 codes: a second store over the same table and client
    licenses: new LicenseStore({ documentClient: store.documentClient, tableName: settings.tableName, auditTtlDays: settings.auditTtlDays }),
    marketplace: createMarketplaceClient({
      baseUrls: settings.marketplaceUrls,
      ak: secrets.ak,
      sk: secrets.sk,
      // the usage push is signed with the access key bound to the basic interfaces (spec 2.7)
      usageSigningKey: secrets.accessKeys[0],
      timeoutMs: settings.openApiTimeoutMs,
    }),
    provisioner: createProductProvisioner(settings),
    debugProvisioner: createDefaultProvisioner({ frontEndUrl: settings.frontEndUrl, adminUrl: settings.adminUrl }),
    logger,
    alerts: createLogAlerts(logger),
    notifier: createProductNotifier(settings, store, logger),
    catalogue,
    onlineLicenses: new OnlineLicenseStore({
      documentClient: store.documentClient,
      tableName: settings.tableName,
      sealer: createSealer(secrets.dataKeys),
      auditTtlDays: settings.auditTtlDays,
    }),
    licenseSigner: createProductLicenseSigner(settings, secrets),
    settings: {
      provisionBudgetMs: settings.provisionBudgetMs,
      resumeBudgetMs: settings.resumeBudgetMs,
      provisionRetryDelayMs: settings.provisionRetryDelayMs,
      maxProvisionAttempts: settings.maxProvisionAttempts,
      provisioningWatchMs: settings.provisioningWatchMs,
      timers,
      releaseMode: settings.releaseMode,
      jobConcurrency: settings.jobConcurrency,
      jobBatchLimit: settings.jobBatchLimit,
    },
  };
  const tenancy = new TenancyStore({
    documentClient: store.documentClient,
    tableName: settings.tableName,
    sealer: createSealer(secrets.dataKeys),
    auditTtlDays: settings.auditTtlDays,
  });
  const kit: KitServices = { tenancy, logger, ...(secrets.kitPrivateKey ? { openClientSecret: clientSecretOpener(secrets.kitPrivateKey) } : {}) };
  const sso: SsoServices = {
    tenancy,
    identity: createIdentityClient({ timeoutMs: settings.sso.identityTimeoutMs }),
    logger,
    settings: settings.sso,
  };
  return { settings, secrets, services, kit, sso };
}

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
