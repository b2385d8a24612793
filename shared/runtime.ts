/**
 * The composition root: builds the services once per Lambda container (or test module) from settings
 * and secrets. Handlers call getRuntime(); nothing else constructs clients.
 *
 * The parts only some functions need — the open-API client, provisioners and notifier
 * (shared/runtime/marketplace.ts), the joint-operation stores and identity client
 * (shared/runtime/joint.ts), the License stores and signer (shared/runtime/licensing.ts) — are added by
 * their own modules through extendRuntime(), imported by the routes and callbacks that use them: every
 * other function's bundle leaves them out. Reaching for a part a function did not import fails loudly.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { loadSettings, type Settings } from './config.ts';
import { logger } from './logger.ts';
import { createSealer } from '#shared/crypto/sealer';
import { createCatalogue, DEFAULT_RETENTION_DAYS, RETENTION_MARGIN_DAYS } from '#shared/domain/catalogue';
import { DAY_MS, type InstanceTimerPolicy } from '#shared/domain/timers';
import { productCatalogue } from '#shared/product/catalogue';
import { createLogAlerts } from '#shared/notify/alerts';
import type { Services } from '#shared/domain/call';
import { loadSecrets, type Secrets } from './secrets.ts';
import { createStore } from '#shared/storage/store';
import type { KitServices } from '#shared/domain/kit';
import type { SsoServices } from '#shared/domain/sso';

export interface Runtime {
  settings: Settings;
  secrets: Secrets;
  services: Services;
  /** the one DynamoDB client: every store of the table shares it (and the tests' probes see them all) */
  documentClient: DynamoDBDocumentClient;
  /** joint-operation Kit syncs */
  kit: KitServices;
  /** joint-operation login */
  sso: SsoServices;
}

/** the service's logger (shared/logger.ts), here for the modules that take everything from the runtime */
export { logger };

let runtime: Promise<Runtime> | undefined;

/** Adds what one part of the service needs to the runtime (see above); applied once, before first use. */
export type RuntimeExtension = (runtime: Runtime) => void;
const extensions = new Set<RuntimeExtension>();
const applied = new WeakMap<Runtime, Set<RuntimeExtension>>();

export function extendRuntime(extension: RuntimeExtension): void {
  extensions.add(extension);
}

export async function getRuntime(): Promise<Runtime> {
  runtime ??= build().catch((error: unknown) => {
    runtime = undefined; // let the next invocation try again (e.g. SSM briefly unavailable)
    throw error;
  });
  const built = await runtime;
  const done = applied.get(built) ?? new Set();
  applied.set(built, done);
  for (const extension of extensions)
    if (!done.has(extension)) {
      done.add(extension);
      extension(built);
    }
  return built;
}

/** A part of the runtime this function's bundle does not carry: reading it says which module adds it. */
function notInstalled<T extends object>(target: T, names: readonly (keyof T & string)[], module: string): T {
  for (const name of names)
    Object.defineProperty(target, name, {
      configurable: true,
      enumerable: false,
      get() {
        throw new Error(`${name} is not part of this function: import '${module}' where it is used`);
      },
    });
  return target;
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
  // the marketplace and License members come from shared/runtime/{marketplace,licensing}.ts (getters that say so until then)
  const core: Omit<Services, 'licenses' | 'onlineLicenses' | 'licenseSigner' | 'marketplace' | 'provisioner' | 'debugProvisioner' | 'notifier'> = {
    store,
    logger,
    alerts: createLogAlerts(logger),
    catalogue,
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
  const services = core as Services;
  const parts = { settings, secrets, services, documentClient: store.documentClient } as Runtime;
  notInstalled(services, ['marketplace', 'provisioner', 'debugProvisioner', 'notifier'], '#shared/runtime/marketplace');
  notInstalled(services, ['licenses', 'onlineLicenses', 'licenseSigner'], '#shared/runtime/licensing');
  notInstalled(parts, ['kit', 'sso'], '#shared/runtime/joint');
  return parts;
}
