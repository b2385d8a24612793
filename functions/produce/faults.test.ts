/**
 * Faults (issue 4): a fault injector in front of DynamoDB (shared/testing/dynamoProbe.ts) and of the
 * open API (the local marketplace's seeded rate, infra/local/marketplace.ts) fails or times out 10 % of
 * the requests of every call the marketplace delivers, seeded per call. Whole order lifecycles are
 * played through POST /produce one call at a time, so that each fault belongs to the call it struck;
 * a call the marketplace counts as failed is resent (fresh nonce) with the faults off, as it would be
 * on 000005. Then:
 * - every call that hit a fault answers 000005 (the documented exceptions below), and every call that
 *   did not answers what it answers in a fault-free run;
 * - nothing is half-written: the table invariants hold (order line ↔ instance, nonce ↔ audit record,
 *   order operation ↔ the audit record that applied it), and every answer has its audit record;
 * - the resends converge to exactly the final state of a fault-free run of the same scripts (versions
 *   aside: a resumed provisioning writes more often), each change applied and audited once.
 *
 * Documented exceptions, asserted precisely:
 * - The open-API client has a fallback host (spec 1.6: two base URLs, here both the local
 *   marketplace). A primary attempt that fails with a 5xx or a timeout is retried there; if that attempt
 *   succeeds, the fault was absorbed and the call answers as if nothing happened. An open-API fault
 *   counts as the call's only when its last attempt failed (or it was a business error, never retried).
 * - Claim-first newInstance (a provisioner with side effects): once the claim committed, a fault in
 *   what follows (the outcome write, or the order read when a resend takes over) answers 000004 — the
 *   claim's own audit record says so, the instance stays PROVISIONING and due, and the resumeProvisioning
 *   job finishes it (the marketplace polls queryInstance meanwhile: 000004, then 000000). The audit
 *   record then reads 000004, or 000000 when the outcome write was applied and only its answer lost.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MarketplaceCall } from '#infra/local/marketplace';
import { createSealer } from '#shared/crypto/sealer';
import type { Provisioner } from '#shared/domain/provisioner';
import { createStore } from '#shared/storage/store';
import { getRuntime } from '#shared/runtime';
import { probeRuntime, type DynamoProbe } from '#shared/testing/dynamoProbe';
import { runJob, startHarness, type Harness } from '#shared/testing/harness';
import {
  drive,
  inProcessDelivery,
  indexTable,
  orderView,
  randomScripts,
  runStats,
  scanTable,
  tableViolations,
  type CallBody,
  type Deliver,
  type DeliveryContext,
  type Item,
  type MarketplaceSide,
  type OrderRun,
  type Reply,
  type TableIndex,
} from '#shared/testing/marketplaceDriver';
import { sized } from '#shared/testing/size';
import { handler as resumeProvisioning } from '../resumeProvisioning/handler.ts';
import { handler } from './handler.ts';

const SEED = 31337;
const RATE = 0.1;

let h: Harness;
let probe: DynamoProbe;
beforeAll(async () => {
  // a generous budget: on a loaded machine a slow answer must not pass for a fault (budget.test.ts covers
  // the budget); an injected open-API timeout costs OPEN_API_TIMEOUT_MS per attempt
  h = await startHarness({ REQUEST_BUDGET_MS: '20000', PROVISION_BUDGET_MS: '15000', OPEN_API_TIMEOUT_MS: '2000' });
  // a fallback host, as in production (spec 1.6): the same local marketplace under a second base URL
  process.env.KOOGALLERY_API_URL = `${h.marketplace.url},${h.marketplace.url}/`;
  probe = await probeRuntime();
  expect((await getRuntime()).settings.marketplaceUrls).toHaveLength(2);
});
afterAll(() => {
  probe.remove();
  return h.close();
});

/** One delivery as the fault injector saw it. */
interface Attempt {
  /** call number within its run: with the seed, what reproduces its faults */
  no: number;
  ctx: DeliveryContext;
  body: CallBody;
  nonce?: string;
  reply?: Reply;
  error?: string;
  /** DynamoDB requests failed on purpose during the call */
  dbFaults: number;
  /** open-API calls made during the call, with the faults injected */
  api: MarketplaceCall[];
}

/** The open API failed this call: its last attempt was a fault (a 5xx or timeout retried on the fallback host counts only if that failed too). */
const apiFailed = (a: Attempt) => a.api.length > 0 && a.api.at(-1)!.fault !== undefined;
const faulted = (a: Attempt) => a.dbFaults > 0 || apiFailed(a);
const absorbed = (a: Attempt) => !faulted(a) && a.api.some((c) => c.fault);

const offAll = () => {
  probe.injectFaults(undefined);
  h.marketplace.injectFaults({ count: 0, mode: 'error' });
};

/**
 * The marketplace with faults: its first delivery of a call meets the injectors (seeded by the seed and
 * the call's number in the run), its resends do not. Calls are delivered one at a time (concurrency 1),
 * so every fault is attributed to the call it struck.
 */
function faultyMarketplace(seed: number): { market: MarketplaceSide; attempts: Attempt[]; jobRuns: () => number } {
  const attempts: Attempt[] = [];
  let jobRuns = 0;
  const inner = inProcessDelivery(handler);
  let no = 0;
  let clock = 0;
  const deliver: Deliver = async (body, ctx) => {
    const attempt: Attempt = { no: ++no, ctx, body, dbFaults: 0, api: [] };
    if (ctx.resend === 0) {
      probe.injectFaults({ rate: RATE, seed: seed * 7919 + attempt.no, mode: 'mixed', when: 'either' });
      h.marketplace.injectFaults({ rate: RATE, seed: seed * 104729 + attempt.no, mode: 'mixed' });
    }
    const db = probe.faults();
    const api = h.marketplace.calls().length;
    try {
      const delivered = await inner(body, ctx);
      Object.assign(attempt, delivered);
      return delivered;
    } catch (error) {
      attempt.error = error instanceof Error ? error.message : String(error);
      throw error;
    } finally {
      offAll();
      attempt.dbFaults = probe.faults() - db;
      attempt.api = h.marketplace.calls().slice(api);
      attempts.push(attempt);
    }
  };
  const market: MarketplaceSide = {
    deliver,
    registerOrder: (order) => h.marketplace.registerOrder(order),
    // the marketplace polls while we provision; meanwhile the resume job runs (a moving clock, so a
    // second attempt is due after the first)
    async whileProvisioning() {
      const { settings } = await getRuntime();
      clock = Math.max(clock, Date.now()) + settings.provisionRetryDelayMs + 1000;
      jobRuns++;
      await runJob(resumeProvisioning, new Date(clock));
    },
  };
  return { market, attempts, jobRuns: () => jobRuns };
}

/** open-API faults over both paths: calls failed by them, calls whose fault the fallback host absorbed */
const struck = { api: 0, absorbed: 0 };

function claimFirst(builtIn: Provisioner): Provisioner {
  return { provision: (request, signal) => builtIn.provision(request, signal) };
}

const where = (seed: number, a: Attempt) =>
  `seed ${seed} call #${a.no} (order ${a.ctx.order} step ${a.ctx.step} ${a.body.activity}${a.ctx.resend ? ` resend ${a.ctx.resend}` : ''})`;
const faultsOf = (a: Attempt) =>
  `db faults ${a.dbFaults}, api ${JSON.stringify(a.api.map((c) => `${c.status}${c.fault ? `/${c.fault}` : ''}`))}`;
const auditOf = (t: TableIndex, a: Attempt): Item[] => t.callsByNonce.get(a.nonce ?? '') ?? [];
/** the final state, as two runs must share it: versions and attempts aside */
const converged = (t: TableIndex, run: OrderRun) => {
  const { version: _v, provisioningAttempts: _p, ...view } = orderView(t, run) as ReturnType<typeof orderView> & { version?: number; provisioningAttempts?: number };
  return view;
};

describe.each([
  { path: 'provision first, commit once (built-in provisioner)', orders: sized(30, 300), claimsFirst: false },
  { path: 'claim first (a product provisioner with side effects)', orders: sized(15, 150), claimsFirst: true },
])('faults at 10 %: $orders orders, $path', ({ orders, claimsFirst }) => {
  const scripts = randomScripts(SEED + Number(claimsFirst), orders);
  const tag = randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase();
  let baseline: OrderRun[];
  let run: OrderRun[];
  let attempts: Attempt[];
  let table: TableIndex;
  const expectedCode = (a: Attempt) => baseline[a.ctx.order]!.steps.find((s) => s.index === a.ctx.step && s.late === a.ctx.late)!.deliveries[0]!.reply!.resultCode;

  beforeAll(async () => {
    const services = (await getRuntime()).services;
    services.provisioner = claimsFirst ? claimFirst(services.debugProvisioner) : services.debugProvisioner;
    expect(Boolean(services.provisioner.sideEffectFree)).toBe(!claimsFirst);
    const started = Date.now();
    offAll();
    baseline = await drive(scripts, { deliver: inProcessDelivery(handler), registerOrder: (o) => h.marketplace.registerOrder(o) }, { prefix: `CSF${tag}`, seed: SEED, concurrency: 16 });
    const baseMs = Date.now() - started;
    const faulty = faultyMarketplace(SEED);
    run = await drive(scripts, faulty.market, { prefix: `CSX${tag}`, seed: SEED, concurrency: 1, resends: 5 });
    attempts = faulty.attempts;
    table = indexTable(await scanTable(h.table.documentClient, h.table.tableName));
    console.info(
      `faults (${orders} orders): fault-free ${runStats(baseline).deliveries} calls in ${baseMs} ms; with faults ${attempts.length} calls ` +
        `(${attempts.filter(faulted).length} hit by a fault: ${attempts.filter((a) => a.dbFaults > 0).length} in DynamoDB, ` +
        `${attempts.filter(apiFailed).length} in the open API; ${attempts.filter(absorbed).length} open-API faults absorbed by the fallback host; ` +
        `${attempts.filter((a) => faulted(a) && a.reply?.resultCode === '000004').length} newInstance answered 000004 after its claim; ` +
        `${faulty.jobRuns()} resume job runs) in ${Date.now() - started - baseMs} ms`,
    );
  }, 1_800_000);

  it('faults really struck: in DynamoDB, writes lost and writes applied', () => {
    const hit = attempts.filter(faulted);
    expect(attempts.filter((a) => a.dbFaults > 0).length).toBeGreaterThan(0);
    struck.api += attempts.filter(apiFailed).length;
    struck.absorbed += attempts.filter(absorbed).length;
    // some faulted calls wrote nothing, others were applied though the service saw an error
    expect(hit.filter((a) => auditOf(table, a).length === 0).length).toBeGreaterThan(0);
    expect(hit.filter((a) => a.reply?.resultCode === '000005' && auditOf(table, a).length === 1).length).toBeGreaterThan(0);
    // about the rate asked: most calls make two or three requests
    expect(hit.length / attempts.length).toBeGreaterThan(0.05);
    expect(hit.length / attempts.length).toBeLessThan(0.6);
  });

  it('every call that hit a fault answers 000005 (claim-first newInstance after its claim: 000004)', () => {
    const problems = attempts.filter(faulted).flatMap((a) => {
      if (a.reply?.resultCode === '000005') return [];
      const claimed = claimsFirst && a.body.activity === 'newInstance' && a.reply?.resultCode === '000004' && auditOf(table, a).length === 1;
      return claimed ? [] : [`${where(SEED, a)}: ${faultsOf(a)}; answered ${JSON.stringify(a.reply ?? a.error)}`];
    });
    expect(problems).toEqual([]);
  });

  it('every call that did not (or whose fault the fallback host absorbed) answers as in the fault-free run', () => {
    // a claim-first instance left provisioning by an earlier fault is 000004 to newInstance and queryInstance until the job finishes it
    const struck = new Set(attempts.filter(faulted).map((a) => a.ctx.order));
    const problems = attempts
      .filter((a) => !faulted(a))
      .flatMap((a) => {
        const expected = expectedCode(a);
        if (a.reply?.resultCode === expected) return [];
        const waiting = claimsFirst && struck.has(a.ctx.order) && a.reply?.resultCode === '000004' && ['newInstance', 'queryInstance'].includes(a.body.activity);
        return waiting ? [] : [`${where(SEED, a)}: ${faultsOf(a)}; answered ${JSON.stringify(a.reply ?? a.error)}, fault-free ${expected}`];
      });
    expect(problems).toEqual([]);
  });

  it('the resends converge: every call is accepted, a failed call on its first resend (or after the resume job)', () => {
    const problems = run.flatMap((r) =>
      r.steps.flatMap((s) => {
        const resends = s.deliveries.filter((d) => d.resend > 0).length;
        const polled = s.deliveries.some((d) => d.reply?.resultCode === '000004');
        return s.accepted && (resends <= 1 || (claimsFirst && polled)) && s.deliveries.every((d) => !d.error)
          ? []
          : [`order ${r.index} step ${s.index} ${s.step.kind}: ${JSON.stringify(s.deliveries.map((d) => d.reply?.resultCode ?? d.error))}`];
      }),
    );
    expect(problems).toEqual([]);
    expect(run.map((r) => r.steps.length)).toEqual(baseline.map((r) => r.steps.length));
  });

  it('nothing is half-written: the table invariants hold and every answer has its audit record', () => {
    expect(tableViolations(table)).toEqual([]);
    const problems = attempts.flatMap((a) => {
      const audit = auditOf(table, a);
      const code = a.reply?.resultCode;
      // 000005: written all (applied, answer lost) or nothing — the invariants above check which is whole
      if (code === '000005') return audit.length <= 1 ? [] : [`${where(SEED, a)}: ${audit.length} audit records`];
      if (audit.length === 1 && audit[0]!.resultCode === code) return [];
      const outcomeApplied = claimsFirst && faulted(a) && code === '000004' && audit[0]?.resultCode === '000000';
      return outcomeApplied ? [] : [`${where(SEED, a)}: ${faultsOf(a)}; answered ${code}, audit ${JSON.stringify(audit.map((c) => c.resultCode))}`];
    });
    expect(problems).toEqual([]);
  });

  it('replaying the failed calls converges to the state of the fault-free run', () => {
    expect(run.map((r) => converged(table, r))).toEqual(baseline.map((r) => converged(table, r)));
    expect(run.every((r) => r.instanceId !== undefined)).toBe(true);
  });
});

describe('the injectors are seeded', () => {
  it('the same seed fails the same calls the same way', async () => {
    const services = (await getRuntime()).services;
    services.provisioner = services.debugProvisioner;
    const few = randomScripts(SEED, 4);
    const again = async () => {
      const faulty = faultyMarketplace(SEED);
      await drive(few, faulty.market, { prefix: `CSR${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`, seed: SEED, concurrency: 1, resends: 5 });
      return faulty.attempts.map((a) => `${a.no} ${a.body.activity} ${a.reply?.resultCode} ${faultsOf(a)}`);
    };
    const first = await again();
    expect(await again()).toEqual(first);
    expect(first.some((line) => !line.includes('db faults 0') || line.includes('/'))).toBe(true);
  });
});

describe('claim first: a fault in the outcome write, after the claim committed', () => {
  it.each(['before', 'after'] as const)(
    'fault %s it is applied: newInstance answers 000004, the marketplace polls, the resume job finishes it',
    async (when) => {
      const services = (await getRuntime()).services;
      const builtIn = services.debugProvisioner;
      let armed = true;
      // the claim is written before the provisioner runs: arm the fault for the next write, the outcome's
      services.provisioner = {
        async provision(request, signal) {
          if (armed) probe.injectFaults({ rate: 1, seed: 1, mode: 'error', when, commands: ['TransactWriteItemsCommand'] });
          armed = false;
          return builtIn.provision(request, signal);
        },
      };
      const inner = inProcessDelivery(handler);
      let jobs = 0;
      const market: MarketplaceSide = {
        deliver: (body, ctx) => inner(body, ctx).finally(offAll),
        registerOrder: (order) => h.marketplace.registerOrder(order),
        async whileProvisioning() {
          jobs++;
          const summary = await runJob<{ completed: number }>(resumeProvisioning, new Date(Date.now() + services.settings.provisionRetryDelayMs + 1000));
          expect(summary.completed).toBe(1);
        },
      };
      const script = { chargingMode: 'PERIOD' as const, trial: false, steps: [{ kind: 'create' as const }, { kind: 'query' as const }], late: [] };
      const [run] = await drive([script], market, { prefix: `CSW${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`, seed: SEED, concurrency: 1 });
      const [create, query] = run!.steps;
      const table = indexTable(await scanTable(h.table.documentClient, h.table.tableName));
      const created = create!.deliveries[0]!;
      expect(created.reply).toMatchObject({ resultCode: '000004', instanceId: run!.instanceId });
      // the claim's audit record, rewritten only if the outcome write was applied
      expect(table.callsByNonce.get(created.nonce!)?.map((c) => c.resultCode)).toEqual([when === 'before' ? '000004' : '000000']);
      expect(query!.deliveries.map((d) => d.reply?.resultCode)).toEqual(when === 'before' ? ['000004', '000000'] : ['000000']);
      expect(jobs).toBe(when === 'before' ? 1 : 0);
      expect(orderView(table, run!)).toMatchObject({ status: 'ACTIVE', appInfo: true, provisioningDue: false, instances: 1, orderLines: 1 });
      expect(tableViolations(table)).toEqual([]);
    },
  );
});

describe('a DynamoDB request that never answers', () => {
  /**
   * `requestTimeout` only cuts a request off with `throwOnRequestTimeout: true` (createStore); without
   * it @smithy/node-http-handler logs a warning and waits on. Three attempts of at most 1 s each.
   */
  it('is cut off by the store within 5 s instead of hanging', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((socket) => void sockets.add(socket)).listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const store = createStore({ endpoint: `http://127.0.0.1:${port}`, tableName: 'never-answers', sealer: createSealer(['k']) });
      const started = Date.now();
      const outcome = await Promise.race([
        store.getInstance('x').then(
          () => 'answered',
          (error: Error) => `gave up (${error.name})`,
        ),
        new Promise<string>((resolve) => setTimeout(() => resolve(`still waiting after ${Date.now() - started} ms`), 5_500)),
      ]);
      expect(outcome).toMatch(/^gave up/);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  }, 10_000);
});

describe('open-API faults', () => {
  // few calls read the order, so the open API is counted over both paths
  it('struck calls, and some were absorbed by the fallback host', () => {
    expect(struck.api).toBeGreaterThan(0);
    expect(struck.absorbed).toBeGreaterThan(0);
  });
});

describe('the table invariants catch half-writes', () => {
  it('a nonce without its audit record, an audit record without its nonce, an orphan instance, an order operation without its record', async () => {
    const items = await scanTable(h.table.documentClient, h.table.tableName);
    expect(tableViolations(indexTable(items))).toEqual([]);
    const instance = items.find((i) => i.sk === 'INSTANCE' && i.pk.startsWith('INSTANCE#') && i.appliedOps.some((op: string) => op.startsWith('refresh:')))!;
    const callOf = (pred: (i: Item) => boolean) => items.find((i) => String(i.sk).startsWith('CALL#') && pred(i))!;
    const audit = callOf((i) => i.pk === instance.pk && i.activity === 'refreshInstance' && i.resultCode === '000000' && i.resultMsg === 'success.');
    const nonceOf = (call: Item) => String(call.sk).slice(String(call.sk).lastIndexOf('#') + 1);
    const otherAudit = callOf((i) => i !== audit && i.pk !== instance.pk);
    const line = items.find((i) => i.sk === 'INSTANCE' && i.pk === `ORDER#${instance.orderId}#${instance.orderLineId}`)!;
    const cases: Array<[string, Item[], RegExp]> = [
      ['audit record lost', items.filter((i) => i !== otherAudit), /nonce \S+ has 0 audit records/],
      ['nonce lost', items.filter((i) => i.pk !== `NONCE#${nonceOf(otherAudit)}`), /without its nonce/],
      ['order line lost', items.filter((i) => i !== line), /is not the instance of its order line/],
      ['a second instance of a line', [...items, { ...instance, pk: 'INSTANCE#other', instanceId: 'other' }], /instance other .* is not the instance of its order line/],
      // one audit record fewer than applications: the checker counts per order line, and a seeded script
      // may apply two scenes of one order line (a renewal and its unsubscription), so n and n - 1
      ['a refresh applied without the record of the call (nor its nonce)', items.filter((i) => i !== audit && i.pk !== `NONCE#${nonceOf(audit)}`), /refreshInstance .* applied (?:1 time\(s\), audited as applied 0|2 time\(s\), audited as applied 1|3 time\(s\), audited as applied 2) time\(s\)/],
      ['a state its fields do not support', items.map((i) => (i === instance ? { ...i, status: 'RELEASED', releasedAt: undefined } : i)), /RELEASED: no releasedAt/],
    ];
    for (const [what, broken, expected] of cases) expect(tableViolations(indexTable(broken)).join('\n'), what).toMatch(expected);
  });
});
