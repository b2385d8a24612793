/**
 * Local emulator of the KooGallery marketplace open API (spec 6.1 query order), for tests and local runs.
 *
 * Served API:
 * - `GET /api/mkp-openapi-public/global/v1/order/query?orderId=..[&orderLineId=..]`, AK/SK-verified
 *   (spec 2.8). Bad signature -> HTTP 401 `APIGW.0301`; success -> `MKT.0000` with `orderInfo`
 *   (only the requested line when `orderLineId` is given). The nine debugging mock orders of spec 6.1
 *   are built in.
 *   The real failure codes of this API are unknown (spec 4.2), so these are OUR choices:
 *   `MKT.0100` missing `orderId`, `MKT.0101` unknown order or line, `MKT.0999` injected failure.
 *
 * Test-support routes (local only, unsigned):
 * - `POST /__local/orders` (OrderInfo JSON) registers or replaces an order; 400 when invalid.
 * - `POST /__local/faults` `{count, mode}`: the next `count` order queries fail with HTTP 503 ('error'),
 *   get no answer until the emulator closes ('timeout'), or answer `MKT.0999` ('business').
 * - `GET /__local/calls`: the log of API calls (not of `/__local` calls).
 *
 * Run directly (`tsx infra/local/marketplace.ts`): listens on `PORT` (default 4010) with the
 * credentials `KOOGALLERY_AK` / `KOOGALLERY_SK` (defaults `local-ak` / `local-sk`).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { OrderInfo, findOrderLine } from '#shared/openapi/order';
import { verifyApigRequest } from '#shared/protocol/apigSigner';
import { mockOrders } from '#infra/local/mockOrders';

const QUERY_ORDER_PATH = '/api/mkp-openapi-public/global/v1/order/query';

const Faults = z.object({
  count: z.number().int().nonnegative(),
  mode: z.enum(['error', 'timeout', 'business']),
});
type Faults = z.infer<typeof Faults>;

/** One API call; `status` 0 means no answer was given (injected timeout). `path` includes the query. */
export interface MarketplaceCall {
  method: string;
  path: string;
  status: number;
}

export interface LocalMarketplace {
  /** base URL, e.g. `http://127.0.0.1:4010` */
  url: string;
  port: number;
  registerOrder(order: OrderInfo): void;
  injectFaults(f: Faults): void;
  calls(): ReadonlyArray<MarketplaceCall>;
  close(): Promise<void>;
}

export interface LocalMarketplaceOptions {
  /** 0 = random free port */
  port?: number;
  /** default 127.0.0.1 */
  host?: string;
  /** ak -> sk */
  credentials: Record<string, string>;
  now?: () => Date;
}

export async function startLocalMarketplace(opts: LocalMarketplaceOptions): Promise<LocalMarketplace> {
  const now = opts.now ?? (() => new Date());
  const orders = new Map(mockOrders(now()).map((o) => [o.orderId, o]));
  const callLog: MarketplaceCall[] = [];
  let faults: Faults = { count: 0, mode: 'error' };

  const registerOrder = (order: OrderInfo): void => void orders.set(order.orderId, order);
  const injectFaults = (f: Faults): void => void (faults = { ...f });

  function queryOrder(req: IncomingMessage, res: ServerResponse, url: URL, body: string): number | undefined {
    if (faults.count > 0) {
      faults.count--;
      if (faults.mode === 'timeout') return undefined; // left hanging; destroyed on close()
      if (faults.mode === 'error') return send(res, 503, { error_code: 'APIGW.0202', error_msg: 'Service unavailable (injected)' });
      return send(res, 200, { resultCode: 'MKT.0999', resultMsg: 'system error (injected)' });
    }
    const auth = verifyApigRequest(
      { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body },
      (ak) => (Object.hasOwn(opts.credentials, ak) ? opts.credentials[ak] : undefined),
      now().getTime(),
    );
    if (!auth.ok) {
      return send(res, 401, { error_code: 'APIGW.0301', error_msg: 'Incorrect IAM authentication information' });
    }
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

  /** Test-support routes; returns false when the request is not one of them. */
  function local(req: IncomingMessage, res: ServerResponse, path: string, body: string): boolean {
    const route = `${req.method} ${path}`;
    if (route === 'GET /__local/calls') send(res, 200, callLog);
    else if (route === 'POST /__local/orders') apply(res, OrderInfo.safeParse(parseJson(body)), registerOrder);
    else if (route === 'POST /__local/faults') apply(res, Faults.safeParse(parseJson(body)), injectFaults);
    else return false;
    return true;
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://localhost'); // only path and query are used
      if (local(req, res, url.pathname, body)) return;
      const status =
        req.method === 'GET' && url.pathname === QUERY_ORDER_PATH
          ? queryOrder(req, res, url, body)
          : send(res, 404, {
              error_code: 'APIGW.0101',
              error_msg: 'The API does not exist or has not been published in the environment',
            });
      callLog.push({ method: req.method ?? '', path: req.url ?? '', status: status ?? 0 });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const hostPart = address.includes(':') ? `[${address}]` : address;

  return {
    url: `http://${hostPart}:${port}`,
    port,
    registerOrder,
    injectFaults,
    calls: () => [...callLog],
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
function apply<T>(res: ServerResponse, parsed: z.ZodSafeParseResult<T>, action: (value: T) => void): void {
  if (!parsed.success) {
    send(res, 400, { error: z.prettifyError(parsed.error) });
    return;
  }
  action(parsed.data);
  send(res, 204);
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
  const mkt = await startLocalMarketplace({ port: Number(process.env.PORT ?? 4010), credentials: { [ak]: sk } });
  console.log(`local KooGallery marketplace listening on ${mkt.url}`);
}
