/**
 * The cloud path of the secrets: one SSM SecureString parameter read through Powertools Parameters,
 * against a local endpoint that speaks SSM's JSON protocol (AWS_ENDPOINT_URL_SSM), so the real client,
 * the decryption flag, the JSON transform and the cache are what is tested.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from './config.ts';
import { loadSecrets } from './secrets.ts';

const requests: Array<{ target: string; body: { Name?: string; WithDecryption?: boolean } }> = [];
let value = { accessKeys: ['new-key', 'old-key'], ak: 'cloud-ak', sk: 'cloud-sk', dataKeys: ['data-key'], kitAccessKeys: ['cloud-kit-key'], v1Keys: ['cloud-v1-key'], kitPrivateKey: 'cloud-merchant-pem' };
const server = createServer(async (req: IncomingMessage, res) => {
  let body = '';
  for await (const chunk of req) body += chunk;
  requests.push({ target: String(req.headers['x-amz-target']), body: JSON.parse(body) });
  res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' });
  res.end(JSON.stringify({ Parameter: { Name: '/koogallery/prod/secrets', Type: 'SecureString', Value: JSON.stringify(value), Version: 1 } }));
});

beforeAll(async () => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SSM: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    AWS_REGION: 'ap-southeast-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
});
afterAll(() => void server.close());

describe('secrets from SSM (Powertools Parameters)', () => {
  const env = { STAGE: 'prod', SECRETS_PARAMETER: '/koogallery/prod/secrets' };

  it('reads the parameter decrypted, as JSON, once within the cache age', async () => {
    const settings = loadSettings(env);
    expect(await loadSecrets(settings, env)).toEqual(value);
    expect(requests).toEqual([{ target: 'AmazonSSM.GetParameter', body: { Name: '/koogallery/prod/secrets', WithDecryption: true } }]);
    // cached (300 s): a second container-local read does not call SSM
    await loadSecrets(settings, env);
    expect(requests).toHaveLength(1);
  });

  it('forceFetch reads the new value at once (a key changed in SSM during a change-over)', async () => {
    value = { ...value, accessKeys: ['newer-key', 'new-key'] };
    expect((await loadSecrets(loadSettings(env), env)).accessKeys).toEqual(['new-key', 'old-key']);
    expect((await loadSecrets(loadSettings(env), env, { forceFetch: true })).accessKeys).toEqual(['newer-key', 'new-key']);
    expect(requests).toHaveLength(2);
  });

  it('a parameter missing a secret is refused, naming what is missing and no value', async () => {
    value = { ...value, accessKeys: ['k'], ak: 'cloud-ak', sk: '', dataKeys: [] };
    const failure = loadSecrets(loadSettings(env), env, { forceFetch: true });
    await expect(failure).rejects.toThrow('missing secrets in SSM parameter /koogallery/prod/secrets: sk (KOOGALLERY_SK), dataKeys (KOOGALLERY_DATA_KEY)');
    await expect(loadSecrets(loadSettings(env), env, { forceFetch: true })).rejects.not.toThrow(/cloud-ak/);
  });
});
