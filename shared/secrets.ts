/**
 * The marketplace keys and the data key. In the cloud they are one SSM SecureString parameter (JSON,
 * named by SECRETS_PARAMETER), read and cached by Powertools Parameters; locally they are environment
 * variables, with fixed development defaults on the `local` stage only.
 *
 * Key rotation: `accessKeys` and `dataKeys` are lists. Put the new key first and keep the old one
 * until the change-over is finished: requests signed with either key verify; responses and new
 * ciphertexts use the first.
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getParameter } from '@aws-lambda-powertools/parameters/ssm';
import { ConfigError, type Settings } from './config.ts';

export interface Secrets {
  /** V2 access keys bound to the basic interfaces (request signature, Body-Sign) */
  accessKeys: string[];
  /** Huawei Cloud AK/SK for the open APIs */
  ak: string;
  sk: string;
  /** data keys sealing credentials and personal data at rest */
  dataKeys: string[];
  /**
   * Joint-operation Kit V2 access keys (`x-sign`, spec 2.2), newest first. Optional: a merchant without
   * joint-operation products has none, and the Kit routes then refuse every call with 000001.
   */
  kitAccessKeys: string[];
  /** V1 keys (`authToken`, `Body-Sign` and the V1 AES scheme, spec 2.3–2.5), newest first; optional */
  v1Keys: string[];
  /**
   * The merchant's RSA private key (PEM) whose public half was registered for the joint-operation
   * application; decrypts the application-sync `clientSecret` (spec 2.6). Optional.
   */
  kitPrivateKey?: string;
  /**
   * The Ed25519 private key (PEM, PKCS#8) signing online Licenses (shared/provisioning/ed25519LicenseSigner.ts);
   * optional: without it getLicenseAsync requests are accepted but their delivery fails and alerts. On the local
   * stage without `KOOGALLERY_LICENSE_SIGNING_KEY` a key is generated once per process (never in a real Lambda).
   */
  licenseSigningKey?: string;
  /**
   * The key signing the requests of the webhook provisioner (HMAC-SHA256, README "Webhook provisioner");
   * optional, required when PROVISIONER is webhook or async. Env: PROVISIONER_WEBHOOK_SECRET.
   */
  provisionerWebhookSecret?: string;
}

export const LOCAL_DEFAULTS = {
  KOOGALLERY_ACCESS_KEY: 'local-access-key',
  KOOGALLERY_AK: 'local-ak',
  KOOGALLERY_SK: 'local-sk',
  KOOGALLERY_DATA_KEY: 'local-data-key',
  KOOGALLERY_KIT_ACCESS_KEY: 'local-kit-access-key',
  KOOGALLERY_V1_KEY: 'local-v1-key',
} as const;

const list = (raw: string | undefined) => (raw ?? '').split(',').map((s) => s.trim()).filter(Boolean);

/** The local defaults are public: never used by a function really running in AWS Lambda. */
const localDefaultsAllowed = (settings: Settings, env: NodeJS.ProcessEnv) =>
  settings.stage === 'local' && (!env.AWS_LAMBDA_FUNCTION_NAME || Boolean(env.IS_OFFLINE) || Boolean(env.IS_LOCAL));

export async function loadSecrets(
  settings: Settings,
  env: NodeJS.ProcessEnv = process.env,
  { forceFetch = false } = {},
): Promise<Secrets> {
  if (settings.secretsParameter) {
    const value = await getParameter<Partial<Secrets>>(settings.secretsParameter, {
      decrypt: true,
      transform: 'json',
      maxAge: 300,
      forceFetch,
    });
    return validate(value ?? {}, `SSM parameter ${settings.secretsParameter}`, settings);
  }
  const read = (name: keyof typeof LOCAL_DEFAULTS) =>
    env[name] || (localDefaultsAllowed(settings, env) ? LOCAL_DEFAULTS[name] : undefined);
  return validate(
    {
      accessKeys: list(read('KOOGALLERY_ACCESS_KEY')),
      ak: read('KOOGALLERY_AK'),
      sk: read('KOOGALLERY_SK'),
      dataKeys: list(read('KOOGALLERY_DATA_KEY')),
      kitAccessKeys: list(read('KOOGALLERY_KIT_ACCESS_KEY')),
      v1Keys: list(read('KOOGALLERY_V1_KEY')),
      kitPrivateKey: privateKeyFromEnv(env),
      licenseSigningKey:
        env.KOOGALLERY_LICENSE_SIGNING_KEY?.replace(/\\n/g, '\n') || (localDefaultsAllowed(settings, env) ? devLicenseSigningKey() : undefined),
      provisionerWebhookSecret: env.PROVISIONER_WEBHOOK_SECRET || undefined,
    },
    'environment',
    settings,
  );
}

/** KOOGALLERY_KIT_PRIVATE_KEY (the PEM itself) or KOOGALLERY_KIT_PRIVATE_KEY_FILE (a path; npm start makes one). */
function privateKeyFromEnv(env: NodeJS.ProcessEnv): string | undefined {
  if (env.KOOGALLERY_KIT_PRIVATE_KEY) return env.KOOGALLERY_KIT_PRIVATE_KEY.replace(/\\n/g, '\n');
  const file = env.KOOGALLERY_KIT_PRIVATE_KEY_FILE;
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError('KOOGALLERY_KIT_PRIVATE_KEY_FILE cannot be read');
  }
}

let devLicenseKey: string | undefined;
/** local stage only: a fresh Ed25519 key per process (Licenses it signs verify only within that process) */
function devLicenseSigningKey(): string {
  devLicenseKey ??= generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return devLicenseKey;
}

function validate(value: Partial<Secrets>, source: string, settings: Settings): Secrets {
  const { accessKeys, ak, sk, dataKeys, kitAccessKeys, v1Keys, kitPrivateKey, licenseSigningKey, provisionerWebhookSecret } = value;
  const missing = [
    !accessKeys?.length && 'accessKeys (KOOGALLERY_ACCESS_KEY)',
    !ak && 'ak (KOOGALLERY_AK)',
    !sk && 'sk (KOOGALLERY_SK)',
    !dataKeys?.length && 'dataKeys (KOOGALLERY_DATA_KEY)',
    settings.provisioner !== 'default' && !provisionerWebhookSecret && 'provisionerWebhookSecret (PROVISIONER_WEBHOOK_SECRET)',
  ].filter(Boolean);
  if (missing.length) throw new ConfigError(`missing secrets in ${source}: ${missing.join(', ')}`);
  return {
    accessKeys: accessKeys!,
    ak: ak!,
    sk: sk!,
    dataKeys: dataKeys!,
    kitAccessKeys: kitAccessKeys ?? [],
    v1Keys: v1Keys ?? [],
    ...(kitPrivateKey ? { kitPrivateKey } : {}),
    ...(licenseSigningKey ? { licenseSigningKey } : {}),
    ...(provisionerWebhookSecret ? { provisionerWebhookSecret } : {}),
  };
}
