/**
 * `npm run invoke -- <function> [event.json]`: runs one function with `serverless invoke local`
 * against the local stack (`npm start` in another terminal). Marketplace sample events are signed
 * afresh with the local V2 access key, the current time and a new nonce; scheduled events get the
 * current time (pass `--time <ISO>` to move the clock).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { constants, publicEncrypt } from 'node:crypto';
import { signKitRequest } from '../shared/protocol/kitSignature.ts';
import { signV2Request } from '../shared/protocol/signature.ts';
import { formatMarketTimeMillis, KIT_ZONE_OFFSET_MS } from '../shared/protocol/time.ts';
import { LOCAL_DEFAULTS } from '../shared/secrets.ts';
import { computeAuthToken, encryptV1 } from '../shared/protocol/v1.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

/** The client secret the application-sync sample carries, encrypted as the marketplace would (spec 2.6). */
export const SAMPLE_CLIENT_SECRET = 'sample-client-secret';
/** The buyer phone the V1 sample carries, AES-encrypted with the V1 key as the marketplace would (spec 2.5). */
export const SAMPLE_V1_MOBILE_PHONE = '15905222222';

export function prepareEvent(
  event: Record<string, any>,
  opts: { accessKey: string; now: Date; kitAccessKey?: string; merchantPublicKeyPem?: string; v1Key?: string },
): Record<string, any> {
  const prepared = structuredClone(event);
  // Kit samples: the body's timeStamp (UTC+8) made current, so that every run is the newest call; the
  // application's secret encrypted with the merchant's public key; then x-sign over the new body
  if (prepared.headers?.['x-sign'] !== undefined) {
    const body = JSON.parse(prepared.body ?? '{}') as Record<string, unknown>;
    body.timeStamp = formatMarketTimeMillis(new Date(opts.now.getTime() + KIT_ZONE_OFFSET_MS));
    if (body.clientSecret === 'ENCRYPTED-BY-npm-run-invoke' && opts.merchantPublicKeyPem)
      body.clientSecret = publicEncrypt(
        { key: opts.merchantPublicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        Buffer.from(SAMPLE_CLIENT_SECRET),
      ).toString('base64');
    prepared.body = JSON.stringify(body);
    const nonce = randomBytes(32).toString('hex').toUpperCase();
    const timestamp = String(opts.now.getTime());
    const key = opts.kitAccessKey ?? LOCAL_DEFAULTS.KOOGALLERY_KIT_ACCESS_KEY;
    prepared.headers = { ...prepared.headers, 'x-sign': signKitRequest(key, nonce, timestamp, prepared.body).toUpperCase(), 'x-timestamp': timestamp, 'x-nonce': nonce };
  }
  if (prepared.queryStringParameters?.signature !== undefined) {
    const nonce = randomBytes(32).toString('hex').toUpperCase();
    const timestamp = String(opts.now.getTime());
    const signature = signV2Request(opts.accessKey, nonce, timestamp, prepared.body ?? '').toUpperCase();
    prepared.queryStringParameters = { ...prepared.queryStringParameters, signature, timestamp, nonce };
  }
  // V1 samples (GET /produce/v1): a current timeStamp, the phone encrypted with the V1 key, then the
  // authToken over the decoded parameters (spec 2.3), in both query maps as API Gateway REST fills them
  if (prepared.queryStringParameters?.authToken !== undefined) {
    const key = opts.v1Key ?? LOCAL_DEFAULTS.KOOGALLERY_V1_KEY;
    const { authToken: _resigned, ...params } = prepared.queryStringParameters as Record<string, string>;
    params.timeStamp = formatMarketTimeMillis(opts.now);
    if (params.mobilePhone === 'ENCRYPTED-BY-npm-run-invoke') params.mobilePhone = encryptV1(key, SAMPLE_V1_MOBILE_PHONE);
    const signed = { ...params, authToken: computeAuthToken(key, params) };
    prepared.queryStringParameters = signed;
    prepared.multiValueQueryStringParameters = Object.fromEntries(Object.entries(signed).map(([name, value]) => [name, [value]]));
  }
  if (prepared['detail-type'] === 'Scheduled Event') prepared.time = opts.now.toISOString();
  return prepared;
}

function main(argv: string[]) {
  const timeFlag = argv.indexOf('--time');
  const now = timeFlag >= 0 ? new Date(argv[timeFlag + 1]!) : new Date();
  const [name, file] = timeFlag >= 0 ? argv.filter((_, i) => i !== timeFlag && i !== timeFlag + 1) : argv;
  if (!name) {
    console.error('usage: npm run invoke -- <function> [event.json] [--time <ISO>]');
    process.exit(2);
  }
  const source = file ?? `${root}events/${name}.json`;
  if (!existsSync(source)) {
    console.error(`no sample event ${source}`);
    process.exit(2);
  }
  const publicKeyFile = `${root}.local/kit-public.pem`;
  const event = prepareEvent(JSON.parse(readFileSync(source, 'utf8')), {
    accessKey: (process.env.KOOGALLERY_ACCESS_KEY || LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY).split(',')[0]!,
    kitAccessKey: (process.env.KOOGALLERY_KIT_ACCESS_KEY || LOCAL_DEFAULTS.KOOGALLERY_KIT_ACCESS_KEY).split(',')[0]!,
    v1Key: (process.env.KOOGALLERY_V1_KEY || LOCAL_DEFAULTS.KOOGALLERY_V1_KEY).split(',')[0]!,
    // npm start writes the merchant's local key pair there
    ...(existsSync(publicKeyFile) ? { merchantPublicKeyPem: readFileSync(publicKeyFile, 'utf8') } : {}),
    now,
  });
  mkdirSync(`${root}.local`, { recursive: true });
  const path = `${root}.local/${name}.event.json`;
  writeFileSync(path, JSON.stringify(event));
  const result = spawnSync(`${root}node_modules/.bin/serverless`, ['invoke', 'local', '-f', name, '--stage', 'local', '-p', path], {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      DYNAMODB_ENDPOINT: process.env.DYNAMODB_ENDPOINT || `http://127.0.0.1:${process.env.DYNAMODB_PORT || 8000}`,
      KOOGALLERY_API_URL: process.env.KOOGALLERY_API_URL || `http://127.0.0.1:${process.env.MARKETPLACE_PORT || 4010}`,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: process.env.AWS_REGION || 'ap-southeast-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...(process.env.KOOGALLERY_KIT_PRIVATE_KEY || !existsSync(`${root}.local/kit-private.pem`)
        ? {}
        : { KOOGALLERY_KIT_PRIVATE_KEY_FILE: `${root}.local/kit-private.pem` }),
    },
  });
  process.exit(result.status ?? 1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
