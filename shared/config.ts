/**
 * Service settings from the environment (README "Configuration"). Secrets are not here: see
 * shared/secrets.ts.
 */
import * as z from '#shared/zod';
import { PRODUCT_KINDS, type CatalogueEntry } from '#shared/domain/catalogue';
export interface Settings {
  /** `local` for npm start / invoke local / tests: enables the local secret defaults */
  stage: string;
  tableName: string;
  /** DynamoDB Local endpoint; unset in the cloud */
  dynamodbEndpoint?: string;
  /** open-API base URLs, primary first (KOOGALLERY_API_URL, comma-separated) */
  marketplaceUrls: string[];
  openApiTimeoutMs: number;
  /** front-end URL template of the built-in provisioner ({instanceId}, {customerName}) */
  frontEndUrl: string;
  adminUrl?: string;
  /** the part of the marketplace's 5 s one call may use, end to end */
  requestBudgetMs: number;
  provisionBudgetMs: number;
  resumeBudgetMs: number;
  provisionRetryDelayMs: number;
  maxProvisionAttempts: number;
  timestampWindowMs: number;
  maxBodyBytes: number;
  auditTtlDays: number;
  /** FAILED_CALL_TTL_DAYS: how long a call answered with a failure is kept for redrive (`npm run ops -- failed`) */
  failedCallTtlDays: number;
  /** SSM SecureString (JSON) holding the secrets in the cloud; unset = environment variables */
  secretsParameter?: string;
  /** how long a yearly/monthly instance may stay ACTIVE after its expiry before expiryFreeze acts */
  expiryGraceMs: number;
  /** resourceRelease: `release` (default) or `report` only */
  releaseMode: 'release' | 'report';
  provisioningWatchMs: number;
  jobConcurrency: number;
  jobBatchLimit: number;
  /** the channel buyer notices go out on (reminders, rebuy failures) */
  buyerNoticeChannel: 'sms' | 'email' | 'in-site';
  /** PRODUCT_CATALOGUE (JSON array), taken before shared/product/catalogue.ts */
  catalogue: CatalogueEntry[];
  /** largest Kit body accepted (500 users or thousands of departments in one call) */
  kitMaxBodyBytes: number;
  /** V1 authToken timeStamp tolerance (spec 2.3 recommends ±10 minutes) */
  v1WindowMs: number;
  /** joint-operation login (spec 3.10) */
  sso: SsoSettings;
  /**
   * PROVISIONER: the built-in in-process provisioner (`default`), the signed webhook to the product
   * (`webhook`), or the signed hand-off whose answer the product posts later (`async`, README
   * "Asynchronous provisioner")
   */
  provisioner: 'default' | 'webhook' | 'async';
  /** set when `provisioner` is `webhook` or `async` (README "Webhook provisioner"); its secret is in shared/secrets.ts */
  provisionerWebhook?: ProvisionerWebhookSettings;
}

export interface ProvisionerWebhookSettings {
  /** PROVISIONER_WEBHOOK_URL: https, or http on a loopback host */
  url: string;
  /** PROVISIONER_WEBHOOK_TIMEOUT_MS: one provisioning request, its retry included; at most PROVISION_BUDGET_MS */
  timeoutMs: number;
  /**
   * `async` only, PROVISIONER_ASYNC_RESEND_MINUTES (default 60): a hand-off the product accepted (202) is
   * sent again only after this long without its answer (the ready route), not at every retry delay
   */
  resendAfterMs?: number;
}

export interface SsoSettings {
  /** public base URL of this API (the OAuth redirect_uri is `<base>/sso/callback`); unset = from the request */
  baseUrl?: string;
  /** where a signed-in user lands when the login named no page of its own */
  homeUrl: string;
  /** the longest a session lasts, however often its token is refreshed (ms) */
  sessionMaxMs: number;
  /** how long a login may take between /sso/login and the callback (ms) */
  loginStateMs: number;
  /** refresh the access token when it expires within this (ms) */
  refreshAheadMs: number;
  /** identity-service request timeout (ms) */
  identityTimeoutMs: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const int = (env: NodeJS.ProcessEnv, name: string, fallback: number) => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ConfigError(`${name} must be a non-negative integer`);
  return value;
};

function channelOf(raw: string | undefined): 'sms' | 'email' | 'in-site' {
  if (!raw) return 'sms';
  if (raw === 'sms' || raw === 'email' || raw === 'in-site') return raw;
  throw new ConfigError('BUYER_NOTICE_CHANNEL must be sms, email or in-site');
}

function releaseModeOf(raw: string | undefined): 'release' | 'report' {
  if (!raw || raw === 'release') return 'release';
  if (raw === 'report') return 'report';
  throw new ConfigError('RELEASE_MODE must be release or report');
}

function provisionerOf(raw: string | undefined): 'default' | 'webhook' | 'async' {
  if (!raw || raw === 'default') return 'default';
  if (raw === 'webhook' || raw === 'async') return raw;
  throw new ConfigError('PROVISIONER must be default, webhook or async');
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** PROVISIONER_WEBHOOK_URL: an absolute https URL (http only on a loopback host), without credentials. */
function webhookUrlOf(raw: string | undefined, mode: string): string {
  if (!raw) throw new ConfigError(`PROVISIONER_WEBHOOK_URL is required when PROVISIONER=${mode}`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError('PROVISIONER_WEBHOOK_URL must be an absolute URL');
  }
  if (url.username || url.password) throw new ConfigError('PROVISIONER_WEBHOOK_URL must not carry credentials');
  if (url.protocol === 'https:') return url.href;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return url.href;
  throw new ConfigError('PROVISIONER_WEBHOOK_URL must use https (http only on localhost)');
}

const list = (raw: string | undefined) => (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);

const positive = z.number().check(z.positive());
/** a package threshold (catalogue and per-instance settings) */
export const ThresholdSchema = z.union([
  z.strictObject({ percent: z.number().check(z.gte(0), z.lte(100)) }),
  z.strictObject({ amount: z.number().check(z.nonnegative()) }),
]);
const CatalogueJson = z.array(
  z
    .strictObject({
      productId: z.optional(z.string().check(z.minLength(1))),
      skuCode: z.optional(z.string().check(z.minLength(1))),
      kind: z.enum(PRODUCT_KINDS),
      name: z.optional(z.string()),
      retentionDays: z.optional(z.number().check(z.nonnegative())),
      package: z.optional(
        z.strictObject({
          quota: z.optional(positive),
          threshold: z.optional(ThresholdSchema),
          autoRebuy: z.optional(z.boolean()),
          stopWhenExhausted: z.optional(z.boolean()),
        }),
      ),
    })
    .check(z.refine((e) => e.productId || e.skuCode, 'an entry needs a productId or a skuCode')),
);

function catalogueOf(raw: string | undefined): CatalogueEntry[] {
  if (!raw) return [];
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigError('PRODUCT_CATALOGUE must be a JSON array');
  }
  const parsed = CatalogueJson.safeParse(json);
  if (!parsed.success)
    throw new ConfigError(`PRODUCT_CATALOGUE: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const tableName = env.TABLE_NAME || 'koogallery-local';
  const settings: Settings = {
    stage: env.STAGE || 'local',
    tableName,
    dynamodbEndpoint: env.DYNAMODB_ENDPOINT || undefined,
    marketplaceUrls: list(env.KOOGALLERY_API_URL).length
      ? list(env.KOOGALLERY_API_URL)
      : ['https://mkt.myhuaweicloud.com', 'https://mkt.myhuaweicloud.cn'],
    openApiTimeoutMs: int(env, 'OPEN_API_TIMEOUT_MS', 2000),
    frontEndUrl: env.PRODUCT_FRONTEND_URL || 'https://app.example.com/t/{instanceId}',
    adminUrl: env.PRODUCT_ADMIN_URL || undefined,
    requestBudgetMs: int(env, 'REQUEST_BUDGET_MS', 2800),
    provisionBudgetMs: int(env, 'PROVISION_BUDGET_MS', 2000),
    resumeBudgetMs: int(env, 'RESUME_BUDGET_MS', 20_000),
    provisionRetryDelayMs: int(env, 'PROVISION_RETRY_DELAY_MS', 60_000),
    maxProvisionAttempts: int(env, 'MAX_PROVISION_ATTEMPTS', 10),
    timestampWindowMs: int(env, 'TIMESTAMP_WINDOW_MS', 60_000),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 64 * 1024),
    auditTtlDays: int(env, 'AUDIT_TTL_DAYS', 90),
    failedCallTtlDays: Math.max(1, int(env, 'FAILED_CALL_TTL_DAYS', 14)),
    secretsParameter: env.SECRETS_PARAMETER || undefined,
    expiryGraceMs: int(env, 'EXPIRY_GRACE_MINUTES', 120) * 60_000,
    releaseMode: releaseModeOf(env.RELEASE_MODE),
    provisioningWatchMs: int(env, 'PROVISIONING_WATCH_MINUTES', 120) * 60_000,
    jobConcurrency: Math.max(1, int(env, 'JOB_CONCURRENCY', 8)),
    jobBatchLimit: Math.max(1, int(env, 'JOB_BATCH_LIMIT', 1000)),
    catalogue: catalogueOf(env.PRODUCT_CATALOGUE),
    buyerNoticeChannel: channelOf(env.BUYER_NOTICE_CHANNEL),
    kitMaxBodyBytes: int(env, 'KIT_MAX_BODY_BYTES', 5 * 1024 * 1024),
    v1WindowMs: int(env, 'V1_WINDOW_MINUTES', 10) * 60_000,
    sso: {
      baseUrl: env.SSO_BASE_URL?.replace(/\/+$/, '') || undefined,
      homeUrl: env.SSO_HOME_URL || '/sso/session',
      sessionMaxMs: int(env, 'SSO_SESSION_HOURS', 12) * 3_600_000,
      loginStateMs: int(env, 'SSO_LOGIN_MINUTES', 10) * 60_000,
      refreshAheadMs: int(env, 'SSO_REFRESH_AHEAD_SECONDS', 300) * 1000,
      identityTimeoutMs: int(env, 'SSO_IDENTITY_TIMEOUT_MS', 3000),
    },
    provisioner: provisionerOf(env.PROVISIONER),
  };
  if (settings.provisioner !== 'default') {
    const timeoutMs = int(env, 'PROVISIONER_WEBHOOK_TIMEOUT_MS', 1500);
    if (timeoutMs === 0) throw new ConfigError('PROVISIONER_WEBHOOK_TIMEOUT_MS must be positive');
    // the webhook is asked within the marketplace's answer budget (the request's signal bounds it too)
    if (timeoutMs > settings.provisionBudgetMs) throw new ConfigError('PROVISIONER_WEBHOOK_TIMEOUT_MS must not exceed PROVISION_BUDGET_MS');
    settings.provisionerWebhook = { url: webhookUrlOf(env.PROVISIONER_WEBHOOK_URL, settings.provisioner), timeoutMs };
    if (settings.provisioner === 'async') {
      const resendAfterMs = int(env, 'PROVISIONER_ASYNC_RESEND_MINUTES', 60) * 60_000;
      // an accepted hand-off is not sent again sooner than a failed one would be
      if (resendAfterMs < settings.provisionRetryDelayMs)
        throw new ConfigError('PROVISIONER_ASYNC_RESEND_MINUTES must not be shorter than PROVISION_RETRY_DELAY_MS');
      settings.provisionerWebhook.resendAfterMs = resendAfterMs;
    }
  }
  // an attempt still running must never be due for another one (two tenants for one order line)
  if (settings.provisionRetryDelayMs <= settings.resumeBudgetMs + 2 * settings.openApiTimeoutMs)
    throw new ConfigError('PROVISION_RETRY_DELAY_MS must exceed RESUME_BUDGET_MS + 2 × OPEN_API_TIMEOUT_MS');
  return settings;
}
