import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadSettings } from './config.ts';
import { ConfigError } from './config.ts';
import { LOCAL_DEFAULTS, loadSecrets } from './secrets.ts';

describe('secrets from the environment', () => {
  it('reads comma-separated key lists, newest first', async () => {
    const env = { STAGE: 'prod', KOOGALLERY_ACCESS_KEY: 'new, old', KOOGALLERY_AK: 'ak', KOOGALLERY_SK: 'sk', KOOGALLERY_DATA_KEY: 'd1,d0' };
    expect(await loadSecrets(loadSettings(env), env)).toEqual({ accessKeys: ['new', 'old'], ak: 'ak', sk: 'sk', dataKeys: ['d1', 'd0'], kitAccessKeys: [], v1Keys: [] });
  });

  it('joint-operation keys are optional; the merchant private key comes as PEM text (\\n allowed) or as a file', async () => {
    const base = { STAGE: 'prod', KOOGALLERY_ACCESS_KEY: 'k', KOOGALLERY_AK: 'ak', KOOGALLERY_SK: 'sk', KOOGALLERY_DATA_KEY: 'd' };
    const env = { ...base, KOOGALLERY_KIT_ACCESS_KEY: 'kit-new,kit-old', KOOGALLERY_V1_KEY: 'v1', KOOGALLERY_KIT_PRIVATE_KEY: '-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----' };
    expect(await loadSecrets(loadSettings(env), env)).toMatchObject({
      kitAccessKeys: ['kit-new', 'kit-old'],
      v1Keys: ['v1'],
      kitPrivateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----',
    });
    const dir = mkdtempSync(join(tmpdir(), 'kit-key-'));
    writeFileSync(join(dir, 'key.pem'), 'PEM FROM FILE');
    const fromFile = { ...base, KOOGALLERY_KIT_PRIVATE_KEY_FILE: join(dir, 'key.pem') };
    expect((await loadSecrets(loadSettings(fromFile), fromFile)).kitPrivateKey).toBe('PEM FROM FILE');
    const missing = { ...base, KOOGALLERY_KIT_PRIVATE_KEY_FILE: join(dir, 'nope.pem') };
    await expect(loadSecrets(loadSettings(missing), missing)).rejects.toThrow('KOOGALLERY_KIT_PRIVATE_KEY_FILE cannot be read');
    const local = { STAGE: 'local' };
    expect(await loadSecrets(loadSettings(local), local)).toMatchObject({ kitAccessKeys: [LOCAL_DEFAULTS.KOOGALLERY_KIT_ACCESS_KEY], v1Keys: [LOCAL_DEFAULTS.KOOGALLERY_V1_KEY] });
  });

  it('the License signing key is optional, PEM text (\\n allowed); the local stage generates one per process', async () => {
    const base = { STAGE: 'prod', KOOGALLERY_ACCESS_KEY: 'k', KOOGALLERY_AK: 'ak', KOOGALLERY_SK: 'sk', KOOGALLERY_DATA_KEY: 'd' };
    expect((await loadSecrets(loadSettings(base), base)).licenseSigningKey).toBeUndefined();
    const withKey = { ...base, KOOGALLERY_LICENSE_SIGNING_KEY: '-----BEGIN PRIVATE KEY-----\\nBBBB\\n-----END PRIVATE KEY-----' };
    expect((await loadSecrets(loadSettings(withKey), withKey)).licenseSigningKey).toBe('-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----');
    const local = { STAGE: 'local' };
    const first = (await loadSecrets(loadSettings(local), local)).licenseSigningKey;
    expect(createPrivateKey(first!).asymmetricKeyType).toBe('ed25519');
    expect((await loadSecrets(loadSettings(local), local)).licenseSigningKey).toBe(first);
    const lambda = { ...base, STAGE: 'local', AWS_LAMBDA_FUNCTION_NAME: 'koogallery-merchant-local-getLicenseAsync' };
    expect((await loadSecrets(loadSettings(lambda), lambda)).licenseSigningKey).toBeUndefined();
  });

  it('the webhook provisioner secret is optional, and required with PROVISIONER=webhook or async', async () => {
    const base = { STAGE: 'prod', KOOGALLERY_ACCESS_KEY: 'k', KOOGALLERY_AK: 'ak', KOOGALLERY_SK: 'sk', KOOGALLERY_DATA_KEY: 'd' };
    expect((await loadSecrets(loadSettings(base), base)).provisionerWebhookSecret).toBeUndefined();
    const withSecret = { ...base, PROVISIONER_WEBHOOK_SECRET: 'hook-secret' };
    expect((await loadSecrets(loadSettings(withSecret), withSecret)).provisionerWebhookSecret).toBe('hook-secret');
    const webhook = { ...base, PROVISIONER: 'webhook', PROVISIONER_WEBHOOK_URL: 'https://product.example.com/hook' };
    await expect(loadSecrets(loadSettings(webhook), webhook)).rejects.toThrow('missing secrets in environment: provisionerWebhookSecret (PROVISIONER_WEBHOOK_SECRET)');
    // the asynchronous mode signs its hand-offs with the same secret: refused when the secrets load, not at the first order
    const later = { ...webhook, PROVISIONER: 'async' };
    await expect(loadSecrets(loadSettings(later), later)).rejects.toThrow('missing secrets in environment: provisionerWebhookSecret (PROVISIONER_WEBHOOK_SECRET)');
    const complete = { ...webhook, PROVISIONER_WEBHOOK_SECRET: 'hook-secret' };
    expect((await loadSecrets(loadSettings(complete), complete)).provisionerWebhookSecret).toBe('hook-secret');
  });

  it('uses the public local defaults on the local stage only', async () => {
    const local = { STAGE: 'local' };
    expect((await loadSecrets(loadSettings(local), local)).accessKeys).toEqual([LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY]);
    const deployed = { STAGE: 'prod' };
    await expect(loadSecrets(loadSettings(deployed), deployed)).rejects.toThrow(ConfigError);
  });

  it('never uses the local defaults inside a real Lambda, even on a stage named local', async () => {
    const lambda = { STAGE: 'local', AWS_LAMBDA_FUNCTION_NAME: 'koogallery-merchant-local-produce' };
    await expect(loadSecrets(loadSettings(lambda), lambda)).rejects.toThrow('missing secrets in environment');
    const offline = { ...lambda, IS_OFFLINE: 'true' };
    expect((await loadSecrets(loadSettings(offline), offline)).ak).toBe(LOCAL_DEFAULTS.KOOGALLERY_AK);
  });

  it('names what is missing, never a value', async () => {
    const env = { STAGE: 'prod', KOOGALLERY_ACCESS_KEY: 'secret-value' };
    await expect(loadSecrets(loadSettings(env), env)).rejects.toThrow(/ak \(KOOGALLERY_AK\), sk \(KOOGALLERY_SK\), dataKeys/);
    await expect(loadSecrets(loadSettings(env), env)).rejects.not.toThrow(/secret-value/);
  });
});
