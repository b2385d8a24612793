/**
 * Local emulator of the KooGallery marketplace open APIs (spec 6.1 query order, 6.2 usage push), for tests and local runs.
 *
 * Served API:
 * - `GET /api/mkp-openapi-public/global/v1/order/query?orderId=..[&orderLineId=..]`, AK/SK-verified
 *   (spec 2.8). Bad signature -> HTTP 401 `APIGW.0301`; success -> `MKT.0000` with `orderInfo`
 *   (only the requested line when `orderLineId` is given). The nine debugging mock orders of spec 6.1
 *   are built in.
 *   The real failure codes of this API are unknown (spec 4.2), so these are OUR choices:
 *   `MKT.0100` missing `orderId`, `MKT.0101` unknown order or line, `MKT.0999` injected failure.
 * - `POST /api/mkp-openapi-public/global/v1/isv/usage-data` `{"usage_records":[...]}` (spec 6.2), checked in this order:
 *   1. AK/SK signature over the body (spec 2.8): bad -> HTTP 401 `APIGW.0301`.
 *   2. body signature (spec 2.7) over the raw body with any of `usageKeys`: `signature`, `ts`, `nonce` missing or
 *      repeated, `ts` not Unix ms within 5 minutes of now, a nonce already used, or no key matching ->
 *      HTTP 200 `MKT.0102`.
 *   3. `usage_records` not an array of 1..100 records (also: body not JSON, field missing) -> `MKT.9003`.
 *   4. any record invalid (fields and formats of spec 6.2, see shared/openapi/usage.ts; also begin_time after
 *      end_time) -> `MKT.9002`; else any begin_time more than 21 days before now -> `MKT.9004`. Both reject the
 *      whole request (nothing stored) and carry `extra_info: {abnormal_usage_data: [{metering_sn, reason}]}`
 *      listing only the bad records (`metering_sn` null when it is not a string).
 *   5. `MKT.0000`. Records are de-duplicated by `metering_sn`: one whose `metering_sn` was already accepted (in an
 *      earlier request or the same one) is answered with success but not stored again and counted as a duplicate.
 *   The real platform's behaviour for 3-5 (order of checks, extra_info layout, de-duplication) is not documented
 *   (spec 4.2, 5): all OUR choices. `MKT.9001` (unknown instance) is never answered: instances are not known here.
 * - License APIs (spec 6.3, 6.4; answers in ./licenses.ts), all `POST`, AK/SK-verified like the others (for the
 *   upload over the exact multipart bytes): `/global/v1/license/activate`, `/global/v2/license/activate`,
 *   `/global/v1/license/heartbeat`, `/global/v1/market-event/{event_id}/file`. A code registry preloaded with the
 *   mock codes `PLMOCKUNACTIVATED01`, `PLMOCKUNACTIVATED02`, `PLMOCKUNCLAIMED01`, `PLMOCKALIVE01`, `PLMOCKEXPIRED01`,
 *   `PLMOCKRELEASED01`. An injected 'business' fault answers `92020001`.
 *
 * Test-support routes (local only, unsigned):
 * - `POST /__local/orders` (OrderInfo JSON) registers or replaces an order; 400 when invalid.
 * - `POST /__local/faults` `{count, mode}`: the next `count` API calls (order queries, usage pushes and License
 *   calls, one shared counter) fail with HTTP 503 ('error'), get no answer until the emulator closes ('timeout'), or
 *   answer `MKT.0999` ('business'). `{rate, seed, mode}`: from now on each API call fails with probability
 *   `rate`, drawn from a generator seeded with `seed` (the same seed and the same sequence of calls fail
 *   the same calls); `mode` may also be 'mixed' (each fault one of the three, drawn from the same
 *   generator). `{count: 0, mode: 'error'}` turns faults off.
 * - `GET /__local/calls`: the log of API calls (not of `/__local` calls), each with the fault injected into it, if any.
 * - `GET /__local/usage`: `{records, duplicates}`, the accepted unique usage records and the duplicate count.
 * - `POST /__local/licenses` (see `RegisterLicense` in ./licenses.ts) registers or replaces a License code; 400 when
 *   invalid. `GET /__local/licenses`: the codes with their status and heartbeat count. `GET /__local/uploads`: the
 *   accepted License uploads (a file as base64 in `file`).
 * - `/__local/kit/...` (only with the `kit` option): create joint-operation tenants and sync them to the merchant
 *   backend through the Kit driver (./kitDriver.ts, spec 3.9).
 *
 * Joint-operation identity service (./identity.ts, spec 3.10) under `/idp/{tenantCode}/...`, always mounted; tenants
 * come from the `/__local/kit` routes or from `identity.registerTenant`. Neither is logged in `calls()` nor faulted.
 *
 * Run directly (`tsx infra/local/marketplace.ts`): listens on `PORT` (default 4010) with the
 * credentials `KOOGALLERY_AK` / `KOOGALLERY_SK` (defaults `local-ak` / `local-sk`) and checks usage
 * pushes with the comma-separated access keys `KOOGALLERY_ACCESS_KEY` (default `local-access-key`,
 * the same development default as `npm start`'s API).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { OrderInfo, findOrderLine } from '#shared/openapi/order';
import { MAX_USAGE_AGE_MS, MAX_USAGE_RECORDS, UsagePushRecord, parseCompactUtc } from '#shared/openapi/usage';
import { verifyApigRequest } from '#shared/protocol/apigSigner';
import { usagePushSignature } from '#shared/protocol/signature';
import { LOCAL_DEFAULTS } from '#shared/secrets';
import { mockOrders } from '#infra/local/mockOrders';
import { IDP_PREFIX, createIdentityService, type IdentityService } from '#infra/local/identity';
import { createKitDriver, createLocalKit, httpDeliver, type Deliver } from '#infra/local/kitDriver';
import { seededRandom } from '#shared/testing/seededRandom';
import {
  RegisterLicense,
  createLicenseRegistry,
  licenseRoute,
  type LicenseState,
  type LicenseUploadRecord,
} from '#infra/local/licenses';

const QUERY_ORDER_PATH = '/api/mkp-openapi-public/global/v1/order/query';
const USAGE_DATA_PATH = '/api/mkp-openapi-public/global/v1/isv/usage-data';
/** allowed distance of the usage push `ts` from now, either direction (our choice) */
const USAGE_TS_WINDOW_MS = 5 * 60_000;

const FaultMode = z.enum(['error', 'timeout', 'business']);
export type FaultMode = z.infer<typeof FaultMode>;
const Faults = z.union([
  z.object({ count: z.number().int().nonnegative(), mode: FaultMode }),
  z.object({ rate: z.number().min(0).max(1), seed: z.number().int(), mode: z.union([FaultMode, z.literal('mixed')]) }),
]);
type Faults = z.infer<typeof Faults>;

/** One API call; `status` 0 means no answer was given (injected timeout). `path` includes the query. */
export interface MarketplaceCall {
  method: string;
  path: string;
  status: number;
  /** the fault injected into this call, if any */
  fault?: FaultMode;
}

export interface LocalMarketplace {
  /** base URL, e.g. `http://127.0.0.1:4010` */
  url: string;
  port: number;
  registerOrder(order: OrderInfo): void;
  injectFaults(f: Faults): void;
  calls(): ReadonlyArray<MarketplaceCall>;
  /** accepted usage records, one per `metering_sn`, in arrival order */
  usageRecords(): ReadonlyArray<UsagePushRecord>;
  /** how many accepted records repeated an already accepted `metering_sn` (answered with success, not stored) */
  usageDuplicates(): number;
  /** registers or replaces a License code (spec 6.3); throws when invalid */
  registerLicense(license: RegisterLicense): void;
  /** the License codes with their current status and heartbeat counts */
  licenses(): LicenseState[];
  /** calls of the License heartbeat API naming `code` (0 for an unknown code) */
  heartbeatCount(code: string): number;
  /** accepted License uploads (spec 6.4), in arrival order */
  uploads(): ReadonlyArray<LicenseUploadRecord>;
  /** the joint-operation identity service mounted under `/idp/{tenantCode}` (spec 3.10) */
  identity: IdentityService;
  close(): Promise<void>;
}

export interface LocalMarketplaceOptions {
  /** 0 = random free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** ak -> sk */
  credentials: Record<string, string>;
  /** V2 access keys accepted for the usage-push body signature (spec 2.7); default `[LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY]` */
  usageKeys?: readonly string[];
  now?: () => Date;
  /** identity-service settings; `now` defaults to the marketplace's */
  identity?: { now?: () => Date; accessTokenTtlSeconds?: number };
  /** enables the `/__local/kit` routes: the Kit driver signs and delivers syncs to the merchant backend */
  kit?: {
    /** the backend's production URL; Kit paths (`/produceAPI/...`) are appended */
    backendUrl: string;
    kitAccessKey: string;
    v1Key?: string;
    merchantPublicKeyPem: string;
    /** replaces HTTP delivery (tests call handlers in-process) */
    deliver?: Deliver;
  };
}

export async function startLocalMarketplace(opts: LocalMarketplaceOptions): Promise<LocalMarketplace> {
  const now = opts.now ?? (() => new Date());
  const orders = new Map(mockOrders(now()).map((o) => [o.orderId, o]));
  const callLog: MarketplaceCall[] = [];
  let faults: Faults = { count: 0, mode: 'error' };
  let random = seededRandom(0);
  const usageKeys = (opts.usageKeys ?? [LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY]).filter((k) => k !== '');
  const usage = new Map<string, UsagePushRecord>(); // metering_sn -> record
  let duplicates = 0;
  const seenNonces = new Map<string, number>(); // nonce -> ts, forgotten once outside the window
  const licenses = createLicenseRegistry(now);
  let baseUrl = '';
  const identity = createIdentityService({
    baseUrl: () => baseUrl,
    now: opts.identity?.now ?? now,
    ...(opts.identity?.accessTokenTtlSeconds !== undefined ? { accessTokenTtlSeconds: opts.identity.accessTokenTtlSeconds } : {}),
  });
  const kit = opts.kit
    ? createLocalKit({
        identity,
        now,
        driver: createKitDriver({
          deliver: opts.kit.deliver ?? httpDeliver(opts.kit.backendUrl),
          kitAccessKey: opts.kit.kitAccessKey,
          ...(opts.kit.v1Key !== undefined ? { v1Key: opts.kit.v1Key } : {}),
          merchantPublicKeyPem: opts.kit.merchantPublicKeyPem,
          now,
        }),
      })
    : undefined;

  const registerOrder = (order: OrderInfo): void => void orders.set(order.orderId, order);
  const injectFaults = (f: Faults): void => {
    faults = { ...f };
    random = seededRandom('seed' in f ? f.seed : 0);
  };

  /** The fault due for this API call, if any (a counted one, or a seeded draw). */
  function nextFault(): FaultMode | undefined {
    if ('count' in faults) {
      if (faults.count <= 0) return undefined;
      faults.count--;
      return faults.mode;
    }
    if (random() >= faults.rate) return undefined;
    return faults.mode === 'mixed' ? FaultMode.options[Math.floor(random() * FaultMode.options.length)] : faults.mode;
  }

  /**
   * Answers an injected fault: the status sent (0 = left hanging, destroyed on close()).
   * `business` is the API's own failure answer.
   */
  function fault(res: ServerResponse, mode: FaultMode, business: unknown): number {
    if (mode === 'timeout') return 0;
    if (mode === 'error') return send(res, 503, { error_code: 'APIGW.0202', error_msg: 'Service unavailable (injected)' });
    return send(res, 200, business);
  }

  /**
   * AK/SK check (spec 2.8); false after answering 401. Bytes (the License upload) are hashed as they are.
   */
  function authenticated(req: IncomingMessage, res: ServerResponse, body: string | Buffer): boolean {
    const auth = verifyApigRequest(
      { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
      (ak) => (Object.hasOwn(opts.credentials, ak) ? opts.credentials[ak] : undefined),
      now().getTime(),
    );
    if (!auth.ok) send(res, 401, { error_code: 'APIGW.0301', error_msg: 'Incorrect IAM authentication information' });
    return auth.ok;
  }

  function queryOrder(req: IncomingMessage, res: ServerResponse, url: URL, body: string): number {
    if (!authenticated(req, res, body)) return 401;
    const orderId = url.searchParams.get('orderId');
    if (!orderId) return send(res, 200, { resultCode: 'MKT.0100', resultMsg: 'orderId is required' });
    const order = orders.get(orderId);
    const lineId = url.searchParams.get('orderLineId') ?? undefined;
    const line = order && lineId !== undefined ? findOrderLine(order, lineId) : undefined;
    if (!order || (lineId !== undefined && !line)) {
      return send(res, 200, { resultCode: 'MKT.0101', resultMsg: 'order not found' });
    }
    const orderInfo = line ? { ...order, orderLine: [line] } : order;
    return send(res, 200, { resultCode: 'MKT.0000', resultMsg: 'Success', orderInfo });
  }

  /** Usage-push body signature (spec 2.7) over the raw body; records the nonce when the signature is good. */
  function bodySignatureValid(req: IncomingMessage, body: string): boolean {
    const { signature, ts, nonce } = req.headers;
    if (typeof signature !== 'string' || typeof ts !== 'string' || typeof nonce !== 'string') return false;
    if (!/^\d{1,20}$/.test(ts) || !/^[\x21-\x7e]{1,64}$/.test(nonce)) return false;
    const nowMs = now().getTime();
    if (!(Math.abs(nowMs - Number(ts)) <= USAGE_TS_WINDOW_MS)) return false;
    for (const [seen, at] of seenNonces) if (Math.abs(nowMs - at) > USAGE_TS_WINDOW_MS) seenNonces.delete(seen);
    if (seenNonces.has(nonce)) return false;
    const received = Buffer.from(signature);
    const matches = usageKeys.some((key) => {
      const expected = Buffer.from(usagePushSignature(key, ts, nonce, body));
      return expected.length === received.length && timingSafeEqual(expected, received);
    });
    if (matches) seenNonces.set(nonce, Number(ts));
    return matches;
  }

  function pushUsage(req: IncomingMessage, res: ServerResponse, body: string): number {
    if (!authenticated(req, res, body)) return 401;
    if (!bodySignatureValid(req, body)) {
      return send(res, 200, { error_code: 'MKT.0102', error_msg: 'invalid body signature' });
    }
    const parsed = parseJson(body);
    const records = isRecord(parsed) ? parsed.usage_records : undefined;
    if (!Array.isArray(records) || records.length === 0 || records.length > MAX_USAGE_RECORDS) {
      return send(res, 200, {
        error_code: 'MKT.9003',
        error_msg: `usage_records must hold 1 to ${MAX_USAGE_RECORDS} records`,
      });
    }
    const abnormal = (sn: unknown, reason: string) => ({ metering_sn: typeof sn === 'string' ? sn : null, reason });
    const results = records.map((r: unknown) => ({ raw: r, parsed: UsagePushRecord.safeParse(r) }));
    const invalid = results
      .filter((r) => !r.parsed.success)
      .map(({ raw, parsed }) =>
        abnormal(isRecord(raw) ? raw.metering_sn : undefined, parsed.error ? z.prettifyError(parsed.error) : 'invalid'),
      );
    if (invalid.length > 0) {
      return send(res, 200, {
        error_code: 'MKT.9002',
        error_msg: 'invalid usage entities',
        extra_info: { abnormal_usage_data: invalid },
      });
    }
    const valid = results.map((r) => r.parsed.data!);
    const oldest = now().getTime() - MAX_USAGE_AGE_MS;
    const tooOld = valid
      .filter((r) => parseCompactUtc(r.begin_time)!.getTime() < oldest)
      .map((r) => abnormal(r.metering_sn, 'begin_time is more than 21 days ago'));
    if (tooOld.length > 0) {
      return send(res, 200, {
        error_code: 'MKT.9004',
        error_msg: 'record begin time too old',
        extra_info: { abnormal_usage_data: tooOld },
      });
    }
    for (const record of valid) {
      if (usage.has(record.metering_sn)) duplicates++;
      else usage.set(record.metering_sn, record);
    }
    return send(res, 200, { error_code: 'MKT.0000', error_msg: 'success' });
  }

  const usageState = () => ({ records: [...usage.values()], duplicates });

  /** A License API call (./licenses.ts): faults first, then AK/SK over the raw bytes, then the registry's answer. */
  async function licenseApi(req: IncomingMessage, res: ServerResponse, raw: Buffer, route: NonNullable<ReturnType<typeof licenseRoute>>) {
    const injected = nextFault();
    let status: number;
    if (injected) status = fault(res, injected, { error_code: '92020001', error_msg: 'system error (injected)' });
    else if (!authenticated(req, res, raw)) status = 401;
    else {
      try {
        status = send(res, 200, await licenses.handle(route.api, raw, req.headers['content-type'], route.eventId));
      } catch (e) {
        status = send(res, 500, { error: e instanceof Error ? e.message : String(e) });
      }
    }
    callLog.push({ method: req.method ?? '', path: req.url ?? '', status, ...(injected ? { fault: injected } : {}) });
  }

  const uploadsView = () => licenses.uploads().map((u) => (u.file ? { ...u, file: u.file.toString('base64') } : u));

  /** Test-support routes; returns false when the request is not one of them. */
  function local(req: IncomingMessage, res: ServerResponse, path: string, body: string): boolean {
    const route = `${req.method} ${path}`;
    if (route === 'GET /__local/calls') send(res, 200, callLog);
    else if (route === 'GET /__local/usage') send(res, 200, usageState());
    else if (route === 'GET /__local/licenses') send(res, 200, licenses.list());
    else if (route === 'POST /__local/licenses') apply(res, RegisterLicense.safeParse(parseJson(body)), licenses.register);
    else if (route === 'GET /__local/uploads') send(res, 200, uploadsView());
    else if (route === 'POST /__local/orders') apply(res, OrderInfo.safeParse(parseJson(body)), registerOrder);
    else if (route === 'POST /__local/faults') apply(res, Faults.safeParse(parseJson(body)), injectFaults);
    else return false;
    return true;
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      const url = new URL(req.url ?? '/', 'http://localhost'); // only path and query are used
      if (url.pathname.startsWith(`${IDP_PREFIX}/`)) {
        identity.handle({ method: req.method ?? 'GET', url, headers: req.headers, body }, res);
        return;
      }
      if (url.pathname.startsWith('/__local/kit/')) {
        if (!kit) send(res, 404, { error: 'the Kit driver is off: start the marketplace with the kit option' });
        else
          kit
            .handle(req.method ?? 'GET', url.pathname, body)
            .then((answer) => send(res, answer?.status ?? 404, answer?.body ?? { error: 'no such route' }))
            .catch((e: unknown) => send(res, 500, { error: e instanceof Error ? e.message : String(e) }));
        return;
      }
      if (local(req, res, url.pathname, body)) return;
      const license = licenseRoute(req.method ?? '', url.pathname);
      if (license) {
        void licenseApi(req, res, raw, license);
        return;
      }
      const route = `${req.method} ${url.pathname}`;
      const api = route === `GET ${QUERY_ORDER_PATH}` ? 'query' : route === `POST ${USAGE_DATA_PATH}` ? 'usage' : undefined;
      // faults strike before anything else (authentication included), on the two APIs only
      const injected = api ? nextFault() : undefined;
      const status = injected
        ? fault(
            res,
            injected,
            api === 'query'
              ? { resultCode: 'MKT.0999', resultMsg: 'system error (injected)' }
              : { error_code: 'MKT.0999', error_msg: 'system error (injected)' },
          )
        : api === 'query'
          ? queryOrder(req, res, url, body)
          : api === 'usage'
            ? pushUsage(req, res, body)
            : send(res, 404, {
                error_code: 'APIGW.0101',
                error_msg: 'The API does not exist or has not been published in the environment',
              });
      callLog.push({ method: req.method ?? '', path: req.url ?? '', status, ...(injected ? { fault: injected } : {}) });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const hostPart = address.includes(':') ? `[${address}]` : address;
  baseUrl = `http://${hostPart}:${port}`;

  return {
    url: baseUrl,
    port,
    identity,
    registerOrder,
    injectFaults,
    calls: () => [...callLog],
    usageRecords: () => usageState().records,
    usageDuplicates: () => duplicates,
    registerLicense: licenses.register,
    licenses: licenses.list,
    heartbeatCount: licenses.heartbeatCount,
    uploads: licenses.uploads,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections(); // includes requests left hanging by a 'timeout' fault
      }),
  };
}


/** Sends a JSON body (or none for 204) and returns the status for the call log. */
function send(res: ServerResponse, status: number, body?: unknown): number {
  if (body === undefined) {
    res.writeHead(status).end();
  } else {
    res.writeHead(status, { 'Content-Type': 'application/json;charset=UTF-8' }).end(JSON.stringify(body));
  }
  return status;
}

/** Applies a validated test-support request body: 204, or 400 with the validation problems. */
function apply<T>(res: ServerResponse, parsed: z.core.util.SafeParseResult<T>, action: (value: T) => void): void {
  if (!parsed.success) {
    send(res, 400, { error: z.prettifyError(parsed.error) });
    return;
  }
  action(parsed.data);
  send(res, 204);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const ak = process.env.KOOGALLERY_AK ?? 'local-ak';
  const sk = process.env.KOOGALLERY_SK ?? 'local-sk';
  const usageKeys = (process.env.KOOGALLERY_ACCESS_KEY ?? LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY)
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  const mkt = await startLocalMarketplace({ port: Number(process.env.PORT ?? 4010), credentials: { [ak]: sk }, usageKeys });
  console.log(`local KooGallery marketplace listening on ${mkt.url}`);
}
