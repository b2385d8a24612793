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
import { signV2Request } from '../shared/protocol/signature.ts';
import { LOCAL_DEFAULTS } from '../shared/secrets.ts';

const root = fileURLToPath(new URL('../', import.meta.url));

export function prepareEvent(event: Record<string, any>, opts: { accessKey: string; now: Date }): Record<string, any> {
  const prepared = structuredClone(event);
  if (prepared.queryStringParameters?.signature !== undefined) {
    const nonce = randomBytes(32).toString('hex').toUpperCase();
    const timestamp = String(opts.now.getTime());
    const signature = signV2Request(opts.accessKey, nonce, timestamp, prepared.body ?? '').toUpperCase();
    prepared.queryStringParameters = { ...prepared.queryStringParameters, signature, timestamp, nonce };
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
  const event = prepareEvent(JSON.parse(readFileSync(source, 'utf8')), {
    accessKey: (process.env.KOOGALLERY_ACCESS_KEY || LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY).split(',')[0]!,
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
    },
  });
  process.exit(result.status ?? 1);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
