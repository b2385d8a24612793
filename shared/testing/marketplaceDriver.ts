/**
 * A scripted marketplace: it plays the KooGallery side of whole order lifecycles against the production
 * interface, the way the real one does it — the order registered in the open API first, then signed
 * callbacks, each with a fresh nonce, `newInstance` with a fresh `businessId` on every delivery,
 * resends of calls it counts as failed (spec 5: anything but 000000, or 000004 for newInstance), polls
 * of `queryInstance` while provisioning runs, and on request duplicates: every call delivered in one to
 * three rounds, some rounds a burst of several copies in flight at once, and late resends of calls that
 * outlived later ones.
 *
 * Three parts, each replaceable:
 * - scripts (`randomScripts`): what happens to each order, seeded, independent of ids;
 * - the marketplace side (`MarketplaceSide`): how an order is registered, how one call is delivered
 *   (`Deliver`: in process through the real handler here, `inProcessDelivery`; over HTTP for a running
 *   stack) and what lets time pass while the service provisions;
 * - reading the outcome from the raw table (`scanTable`, `indexTable`, `tableViolations`, `orderView`):
 *   invariants that hold whatever happened, and a normalized final state per order that two runs of the
 *   same scripts (with and without duplicates, with and without faults) must share.
 *
 * The driver never imports a test runner: a CLI may drive the same scripts against a running stack.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { OrderInfo } from '../openapi/order.ts';
import { bodySignHeader, signV2Request } from '../protocol/signature.ts';
import { LOCAL_DEFAULTS } from '../secrets.ts';
import { produceEvent } from './apiEvents.ts';
import { seededRandom } from './seededRandom.ts';

// ================================================================ scripts

/** One thing the marketplace tells the service about an order; ids are derived when it is played. */
export type Step =
  | { kind: 'notify' }
  | { kind: 'create' }
  | { kind: 'query' }
  /** refreshInstance RENEWAL, the n-th renewal order */
  | { kind: 'renew'; n: number; expireTime: string }
  /** refreshInstance UNSUBSCRIBE_RENEWAL_PERIOD of the n-th renewal: the expiry moves back */
  | { kind: 'unsubscribeRenewal'; n: number; expireTime: string }
  | { kind: 'trialToFormal'; expireTime: string }
  /** changeInstanceCheck for the target of the n-th renewal change */
  | { kind: 'check'; n: number; skuCode: string; linearValue: number }
  /** refreshInstance RENEWAL_CHANGE: the service reads the new spec from the n-th change order */
  | { kind: 'renewalChange'; n: number; expireTime: string; skuCode: string; linearValue: number; productId?: string }
  /** upgradeInstance: the service reads the new spec from the n-th upgrade order */
  | { kind: 'upgrade'; n: number; skuCode: string; linearValue: number }
  | { kind: 'freeze' }
  | { kind: 'unfreeze' }
  /** releaseInstance; `refund`: caused by an unsubscription order */
  | { kind: 'release'; refund: boolean };

export interface OrderScript {
  chargingMode: 'PERIOD' | 'ON_DEMAND';
  trial: boolean;
  steps: Step[];
  /** indices of steps delivered once more after the last step (a resend that outlived later calls) */
  late: number[];
}

/** Steps whose late resend must change nothing: idempotent per order operation, or final. */
const LATE_SAFE: ReadonlySet<Step['kind']> = new Set(['notify', 'create', 'renew', 'unsubscribeRenewal', 'trialToFormal', 'renewalChange', 'upgrade', 'release']);

const BASE_EXPIRY_YEAR = 2031;
const expiry = (year: number) => `${year}1124235959`;

/**
 * `count` order lifecycles, a pure function of `seed`. Each is valid for the marketplace: every call
 * is answered 000000 by a service that works (no call on a released instance, no unfreeze of an
 * active one); FREEZE / UNFREEZE alternate, renewals move the expiry forward, an unsubscribed renewal
 * moves it back, trials are converted before they are renewed or changed.
 */
export function randomScripts(seed: number, count: number): OrderScript[] {
  const random = seededRandom(seed);
  const pick = <T>(options: readonly T[]): T => options[Math.floor(random() * options.length)]!;
  const scripts: OrderScript[] = [];
  for (let i = 0; i < count; i++) {
    const chargingMode = random() < 0.8 ? 'PERIOD' : 'ON_DEMAND';
    const periodic = chargingMode === 'PERIOD';
    const trial = periodic && random() < 0.2;
    const steps: Step[] = [];
    if (random() < 0.5) steps.push({ kind: 'notify' });
    steps.push({ kind: 'create' }, { kind: 'query' });
    let frozen = false;
    let converted = !trial;
    let year = BASE_EXPIRY_YEAR;
    const counters = { renew: 0, change: 0, upgrade: 0 };
    /** the last renewal and the expiry before it, while it can still be unsubscribed */
    let lastRenewal: { n: number; before: number } | undefined;
    const events = 2 + Math.floor(random() * 6);
    for (let e = 0; e < events; e++) {
      const options: string[] = [frozen ? 'unfreeze' : 'freeze', 'query'];
      if (periodic && !converted) options.push('trialToFormal', 'trialToFormal');
      if (periodic && converted) options.push('renew', 'renew', 'upgrade', 'renewalChange');
      if (periodic && converted && lastRenewal) options.push('unsubscribeRenewal');
      switch (pick(options)) {
        case 'freeze':
          frozen = true;
          steps.push({ kind: 'freeze' });
          break;
        case 'unfreeze':
          frozen = false;
          steps.push({ kind: 'unfreeze' });
          break;
        case 'query':
          steps.push({ kind: 'query' });
          break;
        case 'trialToFormal':
          converted = true;
          year++;
          steps.push({ kind: 'trialToFormal', expireTime: expiry(year) });
          break;
        case 'renew': {
          const n = ++counters.renew;
          lastRenewal = { n, before: year };
          year++;
          steps.push({ kind: 'renew', n, expireTime: expiry(year) });
          break;
        }
        case 'unsubscribeRenewal':
          year = lastRenewal!.before;
          steps.push({ kind: 'unsubscribeRenewal', n: lastRenewal!.n, expireTime: expiry(year) });
          lastRenewal = undefined;
          break;
        case 'upgrade': {
          const n = ++counters.upgrade;
          steps.push({ kind: 'upgrade', n, skuCode: `sku-up-${n}`, linearValue: 10 + 10 * n });
          break;
        }
        case 'renewalChange': {
          const n = ++counters.change;
          const target = { skuCode: `sku-change-${n}`, linearValue: 5 * n };
          year++;
          steps.push(
            { kind: 'check', n, ...target },
            { kind: 'renewalChange', n, expireTime: expiry(year), ...target, ...(random() < 0.5 ? { productId: `OFFI-PERIOD-${n}` } : {}) },
          );
          break;
        }
      }
    }
    if (random() < 0.6) {
      steps.push({ kind: 'release', refund: random() < 0.3 });
      if (random() < 0.5) steps.push({ kind: 'query' });
    }
    const late = steps.flatMap((step, index) => (LATE_SAFE.has(step.kind) && random() < 0.15 ? [index] : []));
    scripts.push({ chargingMode, trial, steps, late });
  }
  return scripts;
}

// ================================================================ orders and calls of a script

export interface OrderLineIds {
  orderId: string;
  orderLineId: string;
}

const lineOf = (orderId: string): OrderLineIds => ({ orderId, orderLineId: `${orderId}-000001` });

/** The order ids of one script in one run: `<prefix><index>`, derived orders with a suffix. */
export const orderIdOf = (prefix: string, index: number) => `${prefix}${String(index).padStart(5, '0')}`;

function orderInfo(ids: OrderLineIds, over: { orderType: string; chargingMode: string; skuCode: string; linearValue: number; productId?: string }): OrderInfo {
  const periodic = over.chargingMode === 'PERIOD';
  return {
    orderId: ids.orderId,
    orderType: over.orderType,
    createTime: '20261124090000',
    orderLine: [
      {
        orderLineId: ids.orderLineId,
        chargingMode: over.chargingMode,
        ...(periodic ? { periodType: 'year', periodNumber: 1, expireTime: expiry(BASE_EXPIRY_YEAR) } : {}),
        productInfo: [{ productId: over.productId ?? 'OFFI-BASE', skuCode: over.skuCode, linearValue: over.linearValue, productName: 'Driven product' }],
      },
    ],
    buyerInfo: { customerId: 'cust-driver', customerName: 'driver', mobilePhone: '18612345678', email: 'owner@driver.example' },
  } as OrderInfo;
}

/** The order the marketplace must know before a step is delivered (query order), if any. */
function orderFor(script: OrderScript, step: Step, orderId: string): OrderInfo | undefined {
  const chargingMode = script.chargingMode;
  switch (step.kind) {
    case 'notify':
    case 'create':
      return orderInfo(lineOf(orderId), { orderType: script.trial ? 'TRIAL' : 'NEW', chargingMode, skuCode: 'sku-basic', linearValue: 10 });
    case 'renewalChange':
      return orderInfo(lineOf(`${orderId}C${step.n}`), { orderType: 'RENEW', chargingMode, skuCode: step.skuCode, linearValue: step.linearValue });
    case 'upgrade':
      return orderInfo(lineOf(`${orderId}U${step.n}`), { orderType: 'CHANGE', chargingMode, skuCode: step.skuCode, linearValue: step.linearValue });
    default:
      return undefined;
  }
}

export type CallBody = Record<string, unknown> & { activity: string };

/** The body of one delivery of a step (newInstance gets a new businessId every time, spec 3.1). */
function bodyOf(step: Step, orderId: string, instanceId: string | undefined): CallBody {
  const own = lineOf(orderId);
  const id = { instanceId: instanceId ?? '' };
  switch (step.kind) {
    case 'notify':
      return { activity: 'orderNotify', ...own, testFlag: '0' };
    case 'create':
      return { activity: 'newInstance', ...own, businessId: randomUUID() };
    case 'query':
      return { activity: 'queryInstance', ...id };
    case 'renew':
      return { activity: 'refreshInstance', ...id, ...lineOf(`${orderId}R${step.n}`), scene: 'RENEWAL', expireTime: step.expireTime };
    case 'unsubscribeRenewal':
      return { activity: 'refreshInstance', ...id, ...lineOf(`${orderId}R${step.n}`), scene: 'UNSUBSCRIBE_RENEWAL_PERIOD', expireTime: step.expireTime };
    case 'trialToFormal':
      return { activity: 'refreshInstance', ...id, ...lineOf(`${orderId}T`), scene: 'TRIAL_TO_FORMAL', expireTime: step.expireTime };
    case 'check':
      return { activity: 'changeInstanceCheck', ...id, productInfo: { skuCode: step.skuCode, linearValue: step.linearValue } };
    case 'renewalChange':
      return {
        activity: 'refreshInstance',
        ...id,
        ...lineOf(`${orderId}C${step.n}`),
        scene: 'RENEWAL_CHANGE',
        expireTime: step.expireTime,
        ...(step.productId ? { productId: step.productId } : {}),
      };
    case 'upgrade':
      return { activity: 'upgradeInstance', ...id, ...lineOf(`${orderId}U${step.n}`) };
    case 'freeze':
      return { activity: 'updateInstanceStatus', ...id, status: 'FREEZE' };
    case 'unfreeze':
      return { activity: 'updateInstanceStatus', ...id, status: 'UNFREEZE' };
    case 'release':
      return { activity: 'releaseInstance', ...id, ...(step.refund ? lineOf(`${orderId}X`) : {}) };
  }
}

// ================================================================ delivering calls

/** The answer's JSON body (spec 3.0). */
export type Reply = { resultCode: string; resultMsg: string; instanceId?: string; info?: Array<Record<string, unknown>> } & Record<string, unknown>;

/** Where one delivery sits in the run: which order and step, which resend, round and copy. */
export interface DeliveryContext {
  order: number;
  step: number;
  /** 0 for the marketplace's own deliveries (rounds and copies), then 1, 2… for resends after a failure */
  resend: number;
  round: number;
  copy: number;
  late: boolean;
}

/** One signed call as delivered: the nonce it was signed with (its audit record's key) and the answer. */
export interface Delivered {
  nonce: string;
  reply: Reply;
}

/**
 * Delivers one call and returns the service's answer; throws when the answer is not one the marketplace
 * accepts as an answer at all (not HTTP 200, not signed with Body-Sign, not JSON): the marketplace
 * counts that as a failure and resends.
 */
export type Deliver = (body: CallBody, context: DeliveryContext) => Promise<Delivered>;

type ProduceHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult | unknown>;

const lambdaContext = { functionName: 'produce', awsRequestId: 'driver', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

/** Signs a body as the marketplace does (spec 2.1): query parameters and the nonce used. */
export function signCall(body: CallBody, key: string = LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY) {
  const raw = JSON.stringify(body);
  const nonce = randomBytes(32).toString('hex').toUpperCase();
  const timestamp = String(Date.now());
  return { raw, query: { signature: signV2Request(key, nonce, timestamp, raw).toUpperCase(), timestamp, nonce } };
}

/** Delivers through a produce handler in this process, as API Gateway would (REST proxy event). */
export function inProcessDelivery(handler: ProduceHandler, key: string = LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY): Deliver {
  return async (body) => {
    const { raw, query } = signCall(body, key);
    const event = produceEvent(raw, query);
    const result = (await handler(event, lambdaContext)) as APIGatewayProxyResult;
    if (result.statusCode !== 200) throw new Error(`HTTP ${result.statusCode}`);
    if (result.headers?.['Body-Sign'] !== bodySignHeader(key, result.body)) throw new Error('answer without a valid Body-Sign');
    return { nonce: query.nonce, reply: JSON.parse(result.body) as Reply };
  };
}

/** What the driver needs of the marketplace it plays. */
export interface MarketplaceSide {
  deliver: Deliver;
  /** makes an order known to the query-order open API */
  registerOrder(order: OrderInfo): void | Promise<void>;
  /**
   * Called between two polls of queryInstance that answered 000004: time passes (in process: run the
   * resumeProvisioning job as of a later moment; against a running stack: wait for it).
   */
  whileProvisioning?(): Promise<void>;
}

export interface DriveOptions {
  /** order ids begin with it: unique per run (two runs of the same scripts may share a table) */
  prefix: string;
  /** seed of the duplicates (how many rounds, how many copies): per order, so interleaving does not matter */
  seed: number;
  /** orders played at once (each order's steps are always in sequence) */
  concurrency: number;
  /**
   * Duplicates: each call is delivered in `rounds` rounds, one after the other (resends); a share
   * `burstShare` of the rounds (default all) is a burst of `inFlight` copies at once. Without it, once.
   */
  copies?: { rounds: readonly [number, number]; inFlight: readonly [number, number]; burstShare?: number };
  /** deliver the scripts' late resends after their last step */
  late?: boolean;
  /** resends of a call the marketplace counts as failed, at most (default 5) */
  resends?: number;
}

export interface DeliveryRecord extends DeliveryContext {
  body: CallBody;
  nonce?: string;
  reply?: Reply;
  /** no answer the marketplace could read */
  error?: string;
  ms: number;
}

export interface StepRecord {
  index: number;
  step: Step;
  late: boolean;
  deliveries: DeliveryRecord[];
  /** whether the marketplace got an answer it accepts (after resends) */
  accepted: boolean;
}

export interface OrderRun extends OrderLineIds {
  index: number;
  script: OrderScript;
  /** the instance id of the first accepted newInstance answer */
  instanceId?: string;
  steps: StepRecord[];
}

/** Answers the marketplace accepts (spec 5): 000000, and 000004 for newInstance (it polls then). */
export const accepts = (activity: string, reply: Reply | undefined): boolean =>
  reply !== undefined && (reply.resultCode === '000000' || (activity === 'newInstance' && reply.resultCode === '000004'));

/** Plays every script; returns what was delivered and answered, order by order, in script order. */
export async function drive(scripts: readonly OrderScript[], market: MarketplaceSide, options: DriveOptions): Promise<OrderRun[]> {
  const runs: OrderRun[] = new Array(scripts.length);
  let next = 0;
  const worker = async () => {
    while (next < scripts.length) {
      const index = next++;
      runs[index] = await playOrder(scripts[index]!, index, market, options);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker));
  return runs;
}

async function playOrder(script: OrderScript, index: number, market: MarketplaceSide, options: DriveOptions): Promise<OrderRun> {
  const orderId = orderIdOf(options.prefix, index);
  const run: OrderRun = { index, script, ...lineOf(orderId), steps: [] };
  // one generator per order: the duplicates of an order do not depend on how orders interleave
  const random = seededRandom((options.seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  const between = ([min, max]: readonly [number, number]) => min + Math.floor(random() * (max - min + 1));
  const plan = [...script.steps.map((step, i) => ({ i, step, late: false })), ...(options.late ? script.late.map((i) => ({ i, step: script.steps[i]!, late: true })) : [])];
  for (const { i, step, late } of plan) {
    if (step.kind !== 'create' && step.kind !== 'notify' && !run.instanceId) break; // nothing to call about
    const order = orderFor(script, step, orderId);
    if (order) await market.registerOrder(order);
    const record: StepRecord = { index: i, step, late, deliveries: [], accepted: false };
    run.steps.push(record);
    const send = async (context: Omit<DeliveryContext, 'order' | 'step' | 'late'>) => {
      const body = bodyOf(step, orderId, run.instanceId);
      const ctx: DeliveryContext = { order: index, step: i, late, ...context };
      const started = Date.now();
      const delivery: DeliveryRecord = { ...ctx, body, ms: 0 };
      try {
        const { nonce, reply } = await market.deliver(body, ctx);
        Object.assign(delivery, { nonce, reply });
      } catch (error) {
        delivery.error = error instanceof Error ? error.message : String(error);
      }
      delivery.ms = Date.now() - started;
      record.deliveries.push(delivery);
      return delivery;
    };
    const rounds = late || !options.copies ? 1 : between(options.copies.rounds);
    for (let round = 0; round < rounds; round++) {
      const burst = !late && options.copies !== undefined && random() < (options.copies.burstShare ?? 1);
      const inFlight = burst ? between(options.copies!.inFlight) : 1;
      await Promise.all(Array.from({ length: inFlight }, (_, copy) => send({ resend: 0, round, copy })));
    }
    const activity = record.deliveries[0]!.body.activity;
    const accepted = () => record.deliveries.some((d) => accepts(activity, d.reply));
    for (let resend = 1; !accepted() && resend <= (options.resends ?? 5); resend++) {
      if (record.deliveries.at(-1)?.reply?.resultCode === '000004') await market.whileProvisioning?.();
      await send({ resend, round: rounds, copy: 0 });
    }
    record.accepted = accepted();
    if (step.kind === 'create' && !run.instanceId)
      run.instanceId = record.deliveries.find((d) => accepts(activity, d.reply))?.reply?.instanceId;
  }
  return run;
}

// ================================================================ comparing answers

/**
 * An answer as the marketplace reads it: the result code and the payload, without `resultMsg` (a
 * repeat says "success. (already applied)" where the first said "success.") and with the moment of a
 * usage report masked. `instanceId` is written as `<instance>`.
 */
export function replyShape(reply: Reply, instanceId: string | undefined): unknown {
  const { resultMsg: _message, ...rest } = reply;
  let text = JSON.stringify(rest).replace(/"statisticalTime":"\d+"/g, '"statisticalTime":"<time>"');
  if (instanceId) text = text.split(instanceId).join('<instance>');
  return JSON.parse(text);
}

/** `replyShape` across two runs: the tenant's login differs from instance to instance, its presence not. */
export function replyAcrossRuns(reply: Reply, instanceId: string | undefined): unknown {
  return JSON.parse(
    JSON.stringify(replyShape(reply, instanceId)).replace(/"(userName|password)":"[^"]*"/g, '"$1":"<set>"'),
  );
}

// ================================================================ reading the outcome from the table

export type Item = Record<string, any>;

/** Every item of the table (consistent scan, all pages). */
export async function scanTable(client: DynamoDBDocumentClient, tableName: string): Promise<Item[]> {
  const items: Item[] = [];
  let ExclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true, ExclusiveStartKey }));
    items.push(...(page.Items ?? []));
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return items;
}

export interface TableIndex {
  instances: Map<string, Item>;
  /** `orderId#orderLineId` → OrderLine items (one, if all is well) */
  orderLines: Map<string, Item[]>;
  /** `orderId#orderLineId` → instances created for it */
  instancesByLine: Map<string, Item[]>;
  notices: Set<string>;
  nonces: Set<string>;
  /** audit records by the nonce of their call */
  callsByNonce: Map<string, Item[]>;
  /** audit records by partition (`INSTANCE#id`, `ORDER#o#l`) */
  callsBySubject: Map<string, Item[]>;
}

const push = <K, V>(map: Map<K, V[]>, key: K, value: V) => void (map.get(key) ?? map.set(key, []).get(key)!).push(value);

export function indexTable(items: readonly Item[]): TableIndex {
  const t: TableIndex = {
    instances: new Map(),
    orderLines: new Map(),
    instancesByLine: new Map(),
    notices: new Set(),
    nonces: new Set(),
    callsByNonce: new Map(),
    callsBySubject: new Map(),
  };
  for (const item of items) {
    const { pk, sk } = item as { pk: string; sk: string };
    if (sk === 'INSTANCE' && pk.startsWith('INSTANCE#')) {
      t.instances.set(item.instanceId, item);
      push(t.instancesByLine, `${item.orderId}#${item.orderLineId}`, item);
    } else if (sk === 'INSTANCE' && pk.startsWith('ORDER#')) push(t.orderLines, `${item.orderId}#${item.orderLineId}`, item);
    else if (sk === 'NOTICE') t.notices.add(`${item.orderId}#${item.orderLineId}`);
    else if (sk === 'NONCE') t.nonces.add(pk.slice('NONCE#'.length));
    else if (sk.startsWith('CALL#')) {
      push(t.callsByNonce, sk.slice(sk.lastIndexOf('#') + 1), item);
      push(t.callsBySubject, pk, item);
    }
  }
  return t;
}

/** The lifecycle callbacks whose applied change answers exactly 'success.' (a repeat or a no-op says more). */
const CHANGING = ['refreshInstance', 'updateInstanceStatus', 'releaseInstance', 'upgradeInstance'] as const;
const appliedChange = (call: Item) => (CHANGING as readonly string[]).includes(call.activity) && call.resultCode === '000000' && call.resultMsg === 'success.';

/**
 * What must hold of any table the service wrote, whatever failed on the way ("nothing half-written"):
 * - every order line points at an existing instance of that line, and every instance is pointed at by
 *   exactly one order line (no instance of a lost race, no line without its instance);
 * - every nonce has exactly one audit record and every audit record its nonce (the change, its nonce
 *   and its audit record are one transaction);
 * - every instance has the audit record of the newInstance that created it;
 * - every order operation recorded on an instance (renewal, unsubscription, conversion, renewal
 *   change, upgrade) has the audit record of the one call that applied it, and vice versa;
 * - every instance is in a state its fields support (released: when; frozen: since when; active: its
 *   tenant and no pending provisioning; provisioning: due for a retry, on the index).
 * Returns one line per violation.
 */
export function tableViolations(t: TableIndex): string[] {
  const problems: string[] = [];
  for (const [line, items] of t.orderLines) {
    if (items.length !== 1) problems.push(`order line ${line}: ${items.length} order-line items`);
    for (const item of items) {
      const instance = t.instances.get(item.instanceId);
      if (!instance) problems.push(`order line ${line} points at missing instance ${item.instanceId}`);
      else if (`${instance.orderId}#${instance.orderLineId}` !== line) problems.push(`order line ${line} points at instance ${item.instanceId} of ${instance.orderId}#${instance.orderLineId}`);
    }
  }
  for (const [id, instance] of t.instances) {
    const line = `${instance.orderId}#${instance.orderLineId}`;
    const owners = (t.orderLines.get(line) ?? []).filter((l) => l.instanceId === id);
    if (owners.length !== 1) problems.push(`instance ${id} (${line}) is not the instance of its order line`);
    const calls = t.callsBySubject.get(`INSTANCE#${id}`) ?? [];
    if (!calls.some((c) => c.activity === 'newInstance')) problems.push(`instance ${id} has no audit record of its newInstance`);
    problems.push(...stateViolations(id, instance));
    // order operations applied ↔ audit records of the calls that applied them
    const ops = new Map<string, number>();
    for (const op of instance.appliedOps as string[]) {
      const [kind, orderId, orderLineId] = op.split(':');
      const key = `${kind === 'upgrade' ? 'upgradeInstance' : 'refreshInstance'} ${orderId} ${orderLineId}`;
      ops.set(key, (ops.get(key) ?? 0) + 1);
    }
    const audited = new Map<string, number>();
    for (const c of calls.filter((c) => appliedChange(c) && (c.activity === 'refreshInstance' || c.activity === 'upgradeInstance'))) {
      const key = `${c.activity} ${c.orderId} ${c.orderLineId}`;
      audited.set(key, (audited.get(key) ?? 0) + 1);
    }
    for (const key of new Set([...ops.keys(), ...audited.keys()]))
      if ((ops.get(key) ?? 0) !== (audited.get(key) ?? 0))
        problems.push(`instance ${id}: ${key} applied ${ops.get(key) ?? 0} time(s), audited as applied ${audited.get(key) ?? 0} time(s)`);
  }
  for (const nonce of t.nonces) {
    const n = t.callsByNonce.get(nonce)?.length ?? 0;
    if (n !== 1) problems.push(`nonce ${nonce} has ${n} audit records`);
  }
  for (const [nonce, calls] of t.callsByNonce) {
    if (!t.nonces.has(nonce)) problems.push(`audit record ${calls[0]!.pk} ${calls[0]!.activity} without its nonce ${nonce}`);
    if (calls.length > 1) problems.push(`nonce ${nonce} has ${calls.length} audit records`);
  }
  return problems;
}

function stateViolations(id: string, i: Item): string[] {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`instance ${id} ${i.status}: ${what}`);
  if (i.status === 'RELEASED' && !i.releasedAt) say('no releasedAt');
  if (i.status === 'FROZEN' && !i.frozenAt) say('no frozenAt');
  if (i.status === 'ACTIVE' && !i.appInfo) say('no tenant');
  if (i.status === 'ACTIVE' && i.provisioningDueAt) say('still due for provisioning');
  if (i.status === 'PROVISIONING' && !(i.provisioningDueAt && i.dueAt && String(i.timer).startsWith('PROVISION'))) say('not due for a retry');
  return problems;
}

/**
 * The final state of one order as two runs of the same script must share it: the ids of the run
 * written `<order>`, instance ids left out (every run has its own). `version`, `provisioningAttempts`
 * and the applied-change count by activity prove a change was applied once, not twice.
 */
export function orderView(t: TableIndex, run: OrderRun) {
  const line = `${run.orderId}#${run.orderLineId}`;
  const lines = t.orderLines.get(line) ?? [];
  const instance = lines[0] && t.instances.get(lines[0].instanceId);
  const own = (s: unknown) => (typeof s === 'string' ? s.split(run.orderId).join('<order>') : s);
  const calls = instance ? (t.callsBySubject.get(`INSTANCE#${instance.instanceId}`) ?? []) : [];
  const applied: Record<string, number> = {};
  for (const c of calls.filter(appliedChange)) applied[c.activity] = (applied[c.activity] ?? 0) + 1;
  return {
    orderLines: lines.length,
    instances: t.instancesByLine.get(line)?.length ?? 0,
    answeredInstance: instance?.instanceId === run.instanceId,
    notice: t.notices.has(line),
    ...(instance && {
      status: instance.status,
      statusReason: own(instance.statusReason),
      chargingMode: instance.chargingMode,
      trial: instance.trial,
      expireTime: instance.expireTime,
      product: instance.product,
      appInfo: instance.appInfo !== undefined,
      appliedOps: (instance.appliedOps as string[]).map(own),
      frozenAt: instance.frozenAt !== undefined,
      frozenLocally: instance.frozenLocally ?? false,
      releasedAt: instance.releasedAt !== undefined,
      renewedWhileFrozen: instance.renewedWhileFrozenAt !== undefined,
      provisioningDue: instance.provisioningDueAt !== undefined,
      provisioningAttempts: instance.provisioningAttempts,
      version: instance.version,
      applied,
    }),
  };
}
export type OrderView = ReturnType<typeof orderView>;

/** Counts for a report line: calls delivered, how many in flight at most, resends, late resends. */
export function runStats(runs: readonly OrderRun[]) {
  const deliveries = runs.flatMap((r) => r.steps.flatMap((s) => s.deliveries));
  const inFlight = new Map<string, number>();
  for (const d of deliveries) {
    const key = `${d.order}/${d.step}/${d.late}/${d.resend}/${d.round}`;
    inFlight.set(key, (inFlight.get(key) ?? 0) + 1);
  }
  return {
    orders: runs.length,
    steps: runs.reduce((n, r) => n + r.steps.length, 0),
    deliveries: deliveries.length,
    maxInFlight: Math.max(0, ...inFlight.values()),
    resends: deliveries.filter((d) => d.resend > 0).length,
    late: deliveries.filter((d) => d.late).length,
  };
}
