import { describe, expect, it } from 'vitest';
import { loadSettings } from './config.ts';
import { ConfigError } from './config.ts';
import { LOCAL_DEFAULTS, loadSecrets } from './secrets.ts';

describe('secrets from the environment', () => {
  it('reads comma-separated key lists, newest first', async () => {
    const env = { STAGE: 'prod', KOOGALLERY_ACCESS_KEY: 'new, old', KOOGALLERY_AK: 'ak', KOOGALLERY_SK: 'sk', KOOGALLERY_DATA_KEY: 'd1,d0' };
    expect(await loadSecrets(loadSettings(env), env)).toEqual({ accessKeys: ['new', 'old'], ak: 'ak', sk: 'sk', dataKeys: ['d1', 'd0'] });
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
