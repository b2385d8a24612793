/**
 * Redrive and `npm run ops` (issue 8), against DynamoDB Local with real signatures and the real produce
 * handlers in process: a call answered with a failure keeps its request (sealed) in a FailedCall — in
 * its receipt's transaction (a product refusal) or from the route (an internal error) — a success keeps
 * none; `ops redrive <id>` after the cause is fixed brings the instance to the state a first-time success
 * of the same call reaches (a control order), and records its answer; `ops failed` lists by Query;
 * `ops status` prints the three tables with the right counts; no request body reaches the logs.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { handler as produce } from '#functions/produce/handler';
import { handler as produceV1 } from '#functions/produceV1/handler';
import { handler as applicationSync } from '#functions/applicationSync/handler';
import { createSealer } from '#shared/crypto/sealer';
import type { Instance } from '#shared/domain/instance';
import { ProvisioningError, type Provisioner } from '#shared/domain/provisioner';
import { ResultCode } from '#shared/protocol/resultCodes';
import { formatMarketTimeMillis } from '#shared/protocol/time';
import { computeAuthToken, encryptV1 } from '#shared/protocol/v1';
import { getRuntime, logger, type Runtime } from '#shared/runtime';
import { FailedCallStore, type FailedCall } from '#shared/storage/failedCalls';
import { probeRuntime, type DynamoProbe } from '#shared/testing/dynamoProbe';
import { produceEvent, v1Event } from '#shared/testing/apiEvents';
import { freshOrder, invoke, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { kitEvent, kitStamp, merchantKeyPair, V1_KEY } from '#shared/testing/kitCalls';
import { startCapture } from '#shared/testing/logCapture';
import { vi } from 'vitest';
import { main } from '../../scripts/ops.ts';
import { inProcessRedrivePorts } from './redrive.ts';

let h: Harness;
let runtime: Runtime;
let probe: DynamoProbe;
let failedCalls: FailedCallStore;
const logs: string[] = [];

const merchantKeys = merchantKeyPair();

beforeAll(async () => {
  h = await startHarness({ KOOGALLERY_KIT_PRIVATE_KEY: merchantKeys.privateKey });
  runtime = await getRuntime();
  probe = await probeRuntime();
  failedCalls = new FailedCallStore({ documentClient: runtime.documentClient, tableName: runtime.settings.tableName });
  logger.setLogLevel('DEBUG');
  startCapture(logs);
});
afterEach(() => probe.injectFaults(undefined));
afterAll(() => {
  vi.restoreAllMocks();
  logger.setLogLevel('SILENT');
  probe.remove();
  return h.close();
});

/** A product that provisions the same tenant for an order line every time (so two runs compare). */
const working: Provisioner = {
  async provision({ instanceId }) {
    return { frontEndUrl: `https://app.example/t/${instanceId}`, userName: 'admin', password: `pw-${instanceId}` };
  },
};
const refusing: Provisioner = {
  async provision() {
    throw new ProvisioningError('no capacity left in the region', ResultCode.NO_RESOURCE);
  },
};
const use = (p: Provisioner) => void (runtime.services.provisioner = p);

function newOrder() {
  const order = freshOrder();
  h.marketplace.registerOrder(order);
  return { orderId: order.orderId, orderLineId: order.orderLine[0]!.orderLineId };
}

/** A newInstance body with a field the schema ignores: it must never show in the logs or in clear in the table. */
const newInstanceBody = (order: { orderId: string; orderLineId: string }, marker: string) => ({
  activity: 'newInstance',
  ...order,
  businessId: randomUUID(),
  memo: marker,
});

const inProcess = () => inProcessRedrivePorts({ produce, produceV1, kit: { '/produceAPI/v2/applicationSync': applicationSync } });

/** `npm run ops -- …` in this process; redrives go to the handlers in process unless `http` (then to --url). */
const run = async (http: boolean, argv: string[]) => {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: (t) => err.push(t) }, { env: process.env, ...(http ? {} : { ports: inProcess }) });
  return { code, out: out.join('\n'), err: err.join('\n') };
};
const ops = (...argv: string[]) => run(false, argv);

const failedOf = async (orderId: string): Promise<FailedCall[]> => (await failedCalls.list(new Date(), 1)).filter((f) => f.orderId === orderId);

async function rawItem(pk: string, sk: string) {
  return (await runtime.documentClient.send(new GetCommand({ TableName: runtime.settings.tableName, Key: { pk, sk }, ConsistentRead: true }))).Item!;
}

/** The instance as a first-time success of its call leaves it, its own ids and bookkeeping aside. */
async function stateOf(instanceId: string) {
  const instance = (await runtime.services.store.getInstance(instanceId)) as Instance;
  const item = await rawItem(`INSTANCE#${instanceId}`, 'INSTANCE');
  const { instanceId: _i, orderId: _o, orderLineId: _l, createdAt: _c, updatedAt: _u, version: _v, provisioningAttempts: _p, ...rest } = instance;
  const plain = JSON.parse(JSON.stringify(rest).replaceAll(instanceId, '<instance>'));
  return { ...plain, timer: String(item.timer ?? '').split('#')[0], dueAt: item.dueAt };
}

const secretMarkers: string[] = [];
const marker = () => {
  const m = `memo-${randomUUID()}`;
  secretMarkers.push(m);
  return m;
};

describe('a newInstance the product refused', () => {
  let failed: FailedCall;
  let control: { instanceId: string; state: unknown; answer: unknown };
  let body: ReturnType<typeof newInstanceBody>;

  it('is answered with the refusal and keeps its request, sealed, in the same transaction as its receipt', async () => {
    use(refusing);
    const order = newOrder();
    body = newInstanceBody(order, marker());
    probe.reset();
    const answer = await invoke(produce, signedEvent(body));
    expect(answer.json.resultCode).toBe(ResultCode.NO_RESOURCE);
    // claim + outcome: two transactions, no separate put (the FailedCall rode with the outcome's receipt)
    expect(probe.counts().PutItemCommand ?? 0).toBe(0);
    const kept = await failedOf(order.orderId);
    expect(kept).toHaveLength(1);
    failed = kept[0]!;
    expect(failed).toMatchObject({ route: '/produce', activity: 'newInstance', resultCode: ResultCode.NO_RESOURCE, orderLineId: order.orderLineId, redrivable: true, redrives: 0 });
    const item = await rawItem(failed.pk, failed.sk);
    // its day's partition, one of 8 shards chosen by its arrival time (the id names both)
    expect(failed.pk).toMatch(new RegExp(`^FAILED#${failed.receivedAt.slice(0, 10)}#[0-7]$`));
    expect(failed.id.startsWith(failed.receivedAt)).toBe(true);
    expect(item.requestSealed).toMatch(/^v1\./);
    expect(JSON.stringify(item)).not.toContain(body.memo);
    expect(createSealer(runtime.secrets.dataKeys).open(item.requestSealed)).toBe(JSON.stringify(body));
    expect(item.expiresAt - Math.floor(Date.parse(failed.receivedAt) / 1000)).toBe(runtime.settings.failedCallTtlDays * 86_400);
  });

  it('a first-time success keeps nothing (the control run)', async () => {
    use(working);
    const order = newOrder();
    const answer = await invoke(produce, signedEvent(newInstanceBody(order, marker())));
    expect(answer.json.resultCode).toBe(ResultCode.SUCCESS);
    expect(await failedOf(order.orderId)).toEqual([]);
    control = { instanceId: answer.json.instanceId!, state: await stateOf(answer.json.instanceId!), answer: { ...answer.json, instanceId: '<instance>' } };
  });

  it('ops failed lists it by Query, with its id', async () => {
    probe.reset();
    const { code, out } = await ops('failed');
    expect(code).toBe(0);
    expect(out).toContain(failed.id);
    expect(out).toMatch(/newInstance +000100/);
    const counts = probe.counts();
    expect(counts.ScanCommand ?? 0).toBe(0);
    expect(counts.QueryCommand).toBeGreaterThan(0);
  });

  it('redriven once the product is fixed, it reaches the state of a first-time success and records the answer', async () => {
    use(working);
    const { code, out } = await ops('redrive', failed.id);
    expect(code).toBe(0);
    expect(out).toContain('answer: 000000');
    const instanceId = failed.instanceId!;
    expect(await stateOf(instanceId)).toEqual(control.state);
    const [after] = await failedOf(failed.orderId!);
    expect(after).toMatchObject({ redrives: 1, lastRedriveCode: '000000' });
    // the marketplace's own resend, should it still come, gets the answer of a first-time success
    const resend = await invoke(produce, signedEvent(body));
    expect({ ...resend.json, instanceId: '<instance>' }).toEqual(control.answer);
    expect(resend.json.instanceId).toBe(instanceId);
  });

  it('a second redrive is allowed, says so, and is recorded as the second', async () => {
    const { code, out } = await ops('redrive', failed.id);
    expect(code).toBe(0);
    expect(out).toMatch(/redriven 1 time\(s\) before/);
    const [after] = await failedOf(failed.orderId!);
    expect(after!.redrives).toBe(2);
  });

  it('an unknown id is refused with exit status 2', async () => {
    const { code, err } = await ops('redrive', '2020-01-01T00:00:00.000Z#nothing');
    expect(code).toBe(2);
    expect(err).toContain('no failed call');
  });
});

describe('a newInstance that met a storage fault (000005: nothing recorded)', () => {
  it('is kept by the route, and its redrive reaches the state of a first-time success', async () => {
    use(working);
    const controlOrder = newOrder();
    const controlAnswer = await invoke(produce, signedEvent(newInstanceBody(controlOrder, marker())));
    const control = await stateOf(controlAnswer.json.instanceId!);

    const order = newOrder();
    const body = newInstanceBody(order, marker());
    probe.injectFaults({ rate: 1, seed: 1, mode: 'error', when: 'before', commands: ['TransactWriteItemsCommand'] });
    const answer = await invoke(produce, signedEvent(body));
    probe.injectFaults(undefined);
    expect(answer.json.resultCode).toBe(ResultCode.INTERNAL_ERROR);
    const [kept] = await failedOf(order.orderId);
    expect(kept).toMatchObject({ activity: 'newInstance', resultCode: ResultCode.INTERNAL_ERROR, redrivable: true });
    expect(await runtime.services.store.findInstanceIdByOrderLine(order.orderId, order.orderLineId)).toBeUndefined();

    const { code, out } = await ops('redrive', kept!.id);
    expect(code).toBe(0);
    expect(out).toContain('answer: 000000');
    const instanceId = await runtime.services.store.findInstanceIdByOrderLine(order.orderId, order.orderLineId);
    expect(instanceId).toBe(body.businessId);
    expect(await stateOf(instanceId!)).toEqual(control);
  });

  it('a bad signature or a replay keeps nothing (they were not verified calls)', async () => {
    const order = newOrder();
    const body = newInstanceBody(order, marker());
    expect((await invoke(produce, signedEvent(body, { key: 'wrong-key' }))).json.resultCode).toBe(ResultCode.AUTH_FAILED);
    use(refusing);
    const event = signedEvent(body);
    expect((await invoke(produce, event)).json.resultCode).toBe(ResultCode.NO_RESOURCE);
    expect((await invoke(produce, event)).json.resultCode).toBe(ResultCode.AUTH_FAILED);
    expect(await failedOf(order.orderId)).toHaveLength(1);
  });
});

describe('a redrive that could undo a later change', () => {
  it('a FREEZE that failed is not replayed once the instance was frozen and unfrozen since, unless forced', async () => {
    use(working);
    const created = await invoke(produce, signedEvent(newInstanceBody(newOrder(), marker())));
    const instanceId = created.json.instanceId!;
    const freeze = { activity: 'updateInstanceStatus', instanceId, status: 'FREEZE' };
    probe.injectFaults({ rate: 1, seed: 2, mode: 'error', when: 'before', commands: ['TransactWriteItemsCommand'] });
    expect((await invoke(produce, signedEvent(freeze))).json.resultCode).toBe(ResultCode.INTERNAL_ERROR);
    probe.injectFaults(undefined);
    const [kept] = (await failedCalls.list(new Date(), 1)).filter((f) => f.instanceId === instanceId && f.activity === 'updateInstanceStatus');
    expect(kept).toBeDefined();
    // the marketplace's own retry froze it, then the renewal's UNFREEZE made it ACTIVE again
    expect((await invoke(produce, signedEvent(freeze))).json.resultCode).toBe('000000');
    expect((await invoke(produce, signedEvent({ ...freeze, status: 'UNFREEZE' }))).json.resultCode).toBe('000000');

    const refused = await ops('redrive', kept!.id);
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/changed since this updateInstanceStatus failed .*updateInstanceStatus at .*--force/s);
    expect((await runtime.services.store.getInstance(instanceId))?.status).toBe('ACTIVE');

    const forced = await ops('redrive', kept!.id, '--force');
    expect(forced.code).toBe(0);
    expect((await runtime.services.store.getInstance(instanceId))?.status).toBe('FROZEN');
  });
});

describe('a V1 newInstance the product refused', () => {
  const v1Call = (params: Record<string, string>) => {
    const signed = { ...params, timeStamp: formatMarketTimeMillis(new Date()) };
    return invoke(produceV1, v1Event({ ...signed, authToken: computeAuthToken(V1_KEY, signed) }));
  };
  const v1Params = (order: { orderId: string }, phone: string) => ({
    activity: 'newInstance',
    orderId: order.orderId,
    businessId: randomUUID(),
    productId: 'OFFI0001',
    skuCode: 'sku-basic',
    mobilePhone: encryptV1(V1_KEY, phone),
  });

  it('keeps its parameters (not its token) sealed, and its redrive reaches the state of a first-time success', async () => {
    use(working);
    const control = await v1Call(v1Params(newOrder(), '13800000001'));
    expect(control.json.resultCode).toBe(ResultCode.SUCCESS);
    const controlState = await stateOf(control.json.instanceId!);

    use(refusing);
    const order = newOrder();
    const params = v1Params(order, '13800000001');
    secretMarkers.push(params.mobilePhone);
    expect((await v1Call(params)).json.resultCode).toBe(ResultCode.NO_RESOURCE);
    const [kept] = await failedOf(order.orderId);
    expect(kept).toMatchObject({ route: '/produce/v1', activity: 'v1:newInstance', resultCode: ResultCode.NO_RESOURCE, redrivable: true });
    const item = await rawItem(kept!.pk, kept!.sk);
    expect(JSON.stringify(item)).not.toContain(params.mobilePhone);
    const stored = JSON.parse(createSealer(runtime.secrets.dataKeys).open(item.requestSealed)) as Record<string, string>;
    expect(stored).toMatchObject(params);
    expect(stored.authToken).toBeUndefined();

    use(working);
    const { code, out } = await ops('redrive', kept!.id);
    expect(code).toBe(0);
    expect(out).toContain('answer: 000000');
    expect(out).not.toContain('Body-Sign');
    expect(await stateOf(params.businessId)).toEqual(controlState);
  });
});

describe('a Kit applicationSync answered 000005 (the merchant key was not configured yet)', () => {
  it('is kept by the route, and redriven once the key is there it stores the application', async () => {
    const kit = runtime.kit;
    const open = kit.openClientSecret;
    const body = {
      instanceId: randomUUID(),
      tenantId: `tenant-${randomUUID()}`,
      appId: 'app-1',
      clientId: 'client-1',
      clientSecret: merchantKeys.encrypt('client-secret-0123456789'),
      flag: 1,
      testFlag: 0,
      timeStamp: kitStamp(),
    };
    secretMarkers.push(body.clientSecret);
    kit.openClientSecret = undefined;
    try {
      expect((await invoke(applicationSync, kitEvent('applicationSync', body))).json.resultCode).toBe(ResultCode.INTERNAL_ERROR);
    } finally {
      kit.openClientSecret = open;
    }
    const kept = (await failedCalls.list(new Date(), 1)).filter((f) => f.tenantId === body.tenantId);
    expect(kept).toMatchObject([{ route: '/produceAPI/v2/applicationSync', activity: 'applicationSync', redrivable: true }]);
    expect(await kit.tenancy.application(body.tenantId, body.appId)).toBeUndefined();

    const { code, out } = await ops('redrive', kept[0]!.id);
    expect(code).toBe(0);
    expect(out).toContain('answer: 000000');
    expect(await kit.tenancy.application(body.tenantId, body.appId)).toMatchObject({ clientId: 'client-1', clientSecret: 'client-secret-0123456789', status: 'active' });
  });

  it('a body too large for an item is kept without it, as not redrivable', async () => {
    const kit = runtime.kit;
    const open = kit.openClientSecret;
    const body = { instanceId: '', tenantId: `tenant-${randomUUID()}`, appId: 'app-2', clientId: 'c', clientSecret: merchantKeys.encrypt('s'), flag: 1, timeStamp: kitStamp(), padding: 'x'.repeat(400_000) };
    kit.openClientSecret = undefined;
    try {
      expect((await invoke(applicationSync, kitEvent('applicationSync', body))).json.resultCode).toBe(ResultCode.INTERNAL_ERROR);
    } finally {
      kit.openClientSecret = open;
    }
    const [kept] = (await failedCalls.list(new Date(), 1)).filter((f) => f.tenantId === body.tenantId);
    expect(kept).toMatchObject({ redrivable: false });
    expect((await rawItem(kept!.pk, kept!.sk)).requestSealed).toBeUndefined();
    const listed = await ops('failed');
    expect(listed.out).toContain(`${kept!.id}`);
    expect(listed.out).toContain('no (not redrivable)');
    const { code, err } = await ops('redrive', kept!.id);
    expect(code).toBe(2);
    expect(err).toContain('cannot be redriven');
  });
});

describe('redrive over HTTP (the default port)', () => {
  it('sends the call, signed afresh, to the production URL given by --url', async () => {
    // a stand-in for API Gateway in front of the produce handler: the request as it arrives on the wire
    const server = createServer(async (req, res) => {
      const url = new URL(req.url!, 'http://local');
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const result = (await produce({ ...produceEvent(Buffer.concat(chunks).toString('utf8'), Object.fromEntries(url.searchParams)), path: url.pathname, resource: url.pathname }, {
        getRemainingTimeInMillis: () => 30_000,
      } as never)) as { statusCode: number; headers: Record<string, string>; body: string };
      res.writeHead(result.statusCode, result.headers).end(result.body);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      use(refusing);
      const order = newOrder();
      const body = newInstanceBody(order, marker());
      expect((await invoke(produce, signedEvent(body))).json.resultCode).toBe(ResultCode.NO_RESOURCE);
      const [kept] = await failedOf(order.orderId);
      use(working);
      // the URL as entered in the seller console: the API's base plus /produce
      const { code, out } = await run(true, ['redrive', kept!.id, '--url', `http://127.0.0.1:${(server.address() as AddressInfo).port}/produce`]);
      expect(code).toBe(0);
      expect(out).toContain('answer: 000000');
      expect(out).not.toContain('Body-Sign');
      expect((await runtime.services.store.getInstance(body.businessId))?.status).toBe('ACTIVE');
    } finally {
      server.close();
    }
  });
});

describe('ops usage', () => {
  it('refuses an unknown command, a missing id and a bad --hours with exit status 2, and prints the usage on --help', async () => {
    expect((await ops('frobnicate')).code).toBe(2);
    expect((await ops('redrive')).code).toBe(2);
    expect((await ops('status', '--hours', 'soon')).code).toBe(2);
    const help = await ops('--help');
    expect(help.code).toBe(0);
    expect(help.out).toContain('redrive <id>');
  });
});

describe('ops status', () => {
  it('prints instances by state, timers due in the next 24 h and recent failed calls, with the right counts', async () => {
    const { code, out } = await ops('status');
    expect(code).toBe(0);
    const instances = out.slice(out.indexOf('Instances by state'), out.indexOf('Timers due'));
    // this file made: 3 controls + 3 refused then redriven (V2, V1, over HTTP) + 1 redriven after the fault = ACTIVE 7; 1 refused = FAILED 1
    expect(instances).toMatch(/ACTIVE +7 +0 +7/);
    expect(instances).toMatch(/FAILED +1 +0 +1/);
    // the one whose failed FREEZE was redriven by force
    expect(instances).toMatch(/FROZEN +1 +0 +1/);
    const timers = out.slice(out.indexOf('Timers due'), out.indexOf('Failed calls'));
    expect(timers).toContain('Timers due in the next 24 h');
    // every provisioning left a watch due in 2 h (PROVISIONING_WATCH_MINUTES): within the next 24 h
    const watches = (await runtime.services.store.dueWork('WATCH', new Date(Date.now() + 86_400_000))).items.length;
    expect(timers).toMatch(new RegExp(`WATCH +0 +${watches}\\b`));
    const failed = out.slice(out.indexOf('Failed calls'));
    // the failures of this file fell into more than one of a day's shards, and the listing found them all
    expect(new Set((await failedCalls.list(new Date(), 1)).map((f) => f.pk)).size).toBeGreaterThan(1);
    // the V2 refusal, the storage fault, the refusal beside the replay, the failed FREEZE, the V1 refusal, the two Kit calls, the HTTP one
    expect(failed).toContain('Failed calls in the last 24 h (8)');
  });

  it('no request body reached the logs', () => {
    const output = logs.join('\n');
    expect(output.length).toBeGreaterThan(0);
    for (const m of secretMarkers) expect(output).not.toContain(m);
  });
});
