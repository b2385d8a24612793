/**
 * `npm start`: the whole service on this machine, in the foreground.
 *   - AWS DynamoDB Local on 127.0.0.1:$DYNAMODB_PORT (8000), data kept in .dynamodb/, table created if missing
 *   - the local marketplace (query-order open API, AK/SK checked) on 127.0.0.1:$MARKETPLACE_PORT (4010),
 *     unless KOOGALLERY_API_URL points at another one
 *   - the API through serverless-offline on http://127.0.0.1:$PORT (3000), no stage prefix
 *   - the scheduled functions on their schedules (serverless-offline runs `schedule` events)
 *   - joint-operation (spec 3.9, 3.10): the merchant's RSA key pair, generated once into .local/kit-{private,public}.pem
 *     unless KOOGALLERY_KIT_PRIVATE_KEY(_FILE) is set; the local marketplace's identity service under /idp/ and its
 *     Kit driver (`POST /__local/kit/tenants`) syncing tenants to the API with the Kit and V1 keys
 *   - PRODUCT_CATALOGUE: a local default with one hardware SKU (`sku-local-hardware`) unless one is set
 *   - the integration events: the table's stream read as the cloud's publishEvents would, each event printed
 *     (`[events] …`) and, with EVENTS_WEBHOOK_URL, forwarded there signed with EVENTS_WEBHOOK_SECRET
 * Ctrl-C stops all of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { LOCAL_CATALOGUE } from './catalogue.ts';
import { LOCAL_DEFAULTS } from '../../shared/secrets.ts';
import { ensureTable, localClient, startDynamoLocal } from './dynamodb.ts';
import { startLocalEventRelay } from './events.ts';
import { startLocalMarketplace, type LocalMarketplace } from './marketplace.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const env = process.env;
const port = Number(env.PORT || 3000);
const lambdaPort = Number(env.LAMBDA_PORT || 3002);
const dynamoPort = Number(env.DYNAMODB_PORT || 8000);
const marketplacePort = Number(env.MARKETPLACE_PORT || 4010);
const tableName = 'koogallery-local';

/** signs forwarded events when neither EVENTS_WEBHOOK_SECRET nor PROVISIONER_WEBHOOK_SECRET is set (local only) */
const LOCAL_EVENTS_SECRET = 'local-events-secret';

const log = (message: string) => console.log(`[local] ${message}`);

/** Everything started so far, stopped in reverse on Ctrl-C, on SIGTERM/SIGHUP, on a failed start, or when orphaned. */
const cleanups: Array<() => Promise<unknown> | unknown> = [];
let stopping: Promise<never> | undefined;
/**
 * Stops everything once. A second call (serverless-offline exiting because the first call stopped it,
 * a second signal) waits for the same cleanup instead of exiting half-way with DynamoDB Local left running.
 */
function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    log('stopping…');
    for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    process.exit(code);
  })();
  return stopping;
}

/**
 * The merchant's joint-operation RSA key pair (spec 1.5, 2.6): the private key the API decrypts `clientSecret` with,
 * and its public half for the local marketplace's Kit driver. From KOOGALLERY_KIT_PRIVATE_KEY (PEM) or
 * KOOGALLERY_KIT_PRIVATE_KEY_FILE when set, else .local/kit-private.pem, generated (3072 bits) on the first start.
 */
function merchantKeyPair(): { publicKeyPem: string; generatedFile?: string } {
  let privatePem: string;
  let generatedFile: string | undefined;
  if (env.KOOGALLERY_KIT_PRIVATE_KEY) {
    // serverless-offline hands the functions only serverless.yml's environment, which takes a key file
    privatePem = env.KOOGALLERY_KIT_PRIVATE_KEY.replace(/\\n/g, '\n');
    mkdirSync(`${root}.local`, { recursive: true });
    generatedFile = `${root}.local/kit-private.from-env.pem`;
    writeFileSync(generatedFile, privatePem, { mode: 0o600 });
  } else if (env.KOOGALLERY_KIT_PRIVATE_KEY_FILE) privatePem = readFileSync(env.KOOGALLERY_KIT_PRIVATE_KEY_FILE, 'utf8');
  else {
    const dir = `${root}.local`;
    generatedFile = `${dir}/kit-private.pem`;
    if (!existsSync(generatedFile)) {
      mkdirSync(dir, { recursive: true });
      const pair = generateKeyPairSync('rsa', {
        modulusLength: 3072,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      writeFileSync(generatedFile, pair.privateKey, { mode: 0o600 });
      writeFileSync(`${dir}/kit-public.pem`, pair.publicKey);
      log('generated the joint-operation RSA key pair in .local/kit-private.pem and .local/kit-public.pem');
    }
    privatePem = readFileSync(generatedFile, 'utf8');
  }
  // derived from the private key, so that it always matches whatever key the API uses
  const publicKeyPem = createPublicKey(privatePem).export({ type: 'spki', format: 'pem' }).toString();
  return { publicKeyPem, ...(generatedFile ? { generatedFile } : {}) };
}

/** A port already taken would silently mix this stack with whatever holds it: refuse instead. */
function assertFree(port: number, name: string, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', () => reject(new Error(`port ${port} (${name}) is in use; stop what holds it or set ${variable}`)));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

async function main() {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => void stop(0));
  // started by a wrapper that went away without signalling us (IDE, `kill <npm pid>`): do not linger
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && void stop(0), 1000).unref();

  await assertFree(dynamoPort, 'DynamoDB Local', 'DYNAMODB_PORT');
  await assertFree(port, 'API', 'PORT');
  await assertFree(lambdaPort, 'serverless-offline Lambda endpoint', 'LAMBDA_PORT');
  if (!env.KOOGALLERY_API_URL) await assertFree(marketplacePort, 'local marketplace', 'MARKETPLACE_PORT');

  const dbPath = `${root}.dynamodb`;
  mkdirSync(dbPath, { recursive: true });
  const dynamo = await startDynamoLocal({ port: dynamoPort, dbPath });
  cleanups.push(() => dynamo.stop());
  log(`DynamoDB Local on ${dynamo.endpoint} (data in .dynamodb/)`);
  const table = await ensureTable(localClient(dynamo.endpoint), tableName);
  log(`table ${tableName} ${table}`);

  const eventsWebhook = env.EVENTS_WEBHOOK_URL
    ? { url: env.EVENTS_WEBHOOK_URL, secret: env.EVENTS_WEBHOOK_SECRET || env.PROVISIONER_WEBHOOK_SECRET || LOCAL_EVENTS_SECRET }
    : undefined;
  const relay = await startLocalEventRelay({ endpoint: dynamo.endpoint, tableName, webhook: eventsWebhook });
  cleanups.push(() => relay.stop());
  log(`integration events from the table's stream printed as [events] lines${eventsWebhook ? ` and forwarded to ${eventsWebhook.url}` : ' (set EVENTS_WEBHOOK_URL to forward them)'}`);

  const kitKeys = merchantKeyPair();
  const firstOf = (list: string) => list.split(',').map((k) => k.trim()).find(Boolean) ?? '';
  let marketplace: LocalMarketplace | undefined;
  let apiUrl = env.KOOGALLERY_API_URL;
  if (!apiUrl) {
    marketplace = await startLocalMarketplace({
      port: marketplacePort,
      credentials: { [env.KOOGALLERY_AK || LOCAL_DEFAULTS.KOOGALLERY_AK]: env.KOOGALLERY_SK || LOCAL_DEFAULTS.KOOGALLERY_SK },
      // the usage-push body signature uses the V2 access key (spec 2.7), as the service signs it
      usageKeys: (env.KOOGALLERY_ACCESS_KEY || LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY).split(',').map((k) => k.trim()),
      // the Kit driver signs with the first (newest) key, as the marketplace would
      kit: {
        backendUrl: `http://127.0.0.1:${port}`,
        kitAccessKey: firstOf(env.KOOGALLERY_KIT_ACCESS_KEY || LOCAL_DEFAULTS.KOOGALLERY_KIT_ACCESS_KEY),
        v1Key: firstOf(env.KOOGALLERY_V1_KEY || LOCAL_DEFAULTS.KOOGALLERY_V1_KEY),
        merchantPublicKeyPem: kitKeys.publicKeyPem,
      },
    });
    apiUrl = marketplace.url;
    cleanups.push(() => marketplace?.close());
    log(`local marketplace on ${apiUrl} (mock orders MOCKPERIODYEARNEW … MOCKMONTYCHANGE; POST /__local/orders to add one)`);
    log(
      `joint-operation tenant: curl -X POST ${apiUrl}/__local/kit/tenants -H 'Content-Type: application/json' ` +
        `-d '{"tenantCode":"acme"}' (once the API is ready), then sign in at http://127.0.0.1:${port}/sso/login as admin or user1`,
    );
  } else log(`open APIs at ${apiUrl}`);

  // a hardware SKU for hardware supervision (`npm run market -- hardware`) unless the user brings a catalogue
  const catalogue = env.PRODUCT_CATALOGUE || JSON.stringify(LOCAL_CATALOGUE);
  log(`product catalogue ${env.PRODUCT_CATALOGUE ? 'from PRODUCT_CATALOGUE' : '(local default)'}: ${catalogue}`);

  const childEnv = {
    ...env,
    DYNAMODB_ENDPOINT: dynamo.endpoint,
    KOOGALLERY_API_URL: apiUrl,
    PORT: String(port),
    LAMBDA_PORT: String(lambdaPort),
    // DynamoDB Local and serverless-offline accept any credentials; never use real ones here
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_REGION: env.AWS_REGION || 'ap-southeast-1',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SSO_BASE_URL: env.SSO_BASE_URL || `http://127.0.0.1:${port}`,
    PRODUCT_CATALOGUE: catalogue,
    ...(kitKeys.generatedFile ? { KOOGALLERY_KIT_PRIVATE_KEY_FILE: kitKeys.generatedFile } : {}),
  };
  const offline: ChildProcess = spawn(process.execPath, [`${root}node_modules/osls/bin/serverless.js`, 'offline', 'start', '--stage', 'local'], {
    cwd: root,
    env: childEnv,
    stdio: 'inherit',
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        if (offline.exitCode !== null) return resolve();
        offline.once('exit', () => resolve());
        offline.kill('SIGINT');
        setTimeout(() => offline.kill('SIGKILL'), 5000).unref();
      }),
  );
  offline.on('exit', (code) => void stop(code ?? 1));
  // only the public development key is ever printed
  const key = env.KOOGALLERY_ACCESS_KEY ? 'from KOOGALLERY_ACCESS_KEY' : `"${LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY}"`;
  log(`API on http://127.0.0.1:${port}/produce once serverless-offline says "Server ready" (V2 access key ${key})`);
}

main().catch((error: unknown) => {
  console.error('[local] could not start:', error instanceof Error ? error.message : error);
  void stop(1);
});
