/**
 * `npm run market` tested in process against the real handlers (DynamoDB Local, the local marketplace of
 * the harness): scenarios pass, a broken handler fails with a verdict naming the step, --chaos with a
 * fixed seed is deterministic, --target skips what needs the local stack.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodySignHeader } from '#shared/protocol/signature';
import { startHarness, type Harness } from '#shared/testing/harness';
import { LOCAL_DEFAULTS } from '#shared/secrets';
import { handler as produce } from '#functions/produce/handler';
import { handler as usage } from '#functions/usage/handler';
import { handler as licenseRoute } from '#functions/license/handler';
import { handler as licenses } from '#functions/licenses/handler';
import { handler as produceV1 } from '#functions/produceV1/handler';
import { handler as getInstance } from '#functions/getInstance/handler';
import { handler as expiryFreeze } from '#functions/expiryFreeze/handler';
import { handler as resourceRelease } from '#functions/resourceRelease/handler';
import { handler as usagePush } from '#functions/usagePush/handler';
import { handler as getTenant } from '#functions/getTenant/handler';
import { handler as hardwareOrders } from '#functions/hardwareOrders/handler';
import { handler as hardwareAutoAccept } from '#functions/hardwareAutoAccept/handler';
import { handler as tenantSync } from '#functions/tenantSync/handler';
import { handler as applicationSync } from '#functions/applicationSync/handler';
import { handler as authSync } from '#functions/authSync/handler';
import { handler as singleOrgSync } from '#functions/singleOrgSync/handler';
import { handler as allOrgSync } from '#functions/allOrgSync/handler';
import { handler as ssoLogin } from '#functions/ssoLogin/handler';
import { handler as ssoCallback } from '#functions/ssoCallback/handler';
import { handler as ssoSession } from '#functions/ssoSession/handler';
import { handler as ssoLogout } from '#functions/ssoLogout/handler';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { startLocalMarketplace, type LocalMarketplace } from '#infra/local/marketplace';
import type { Deliver as KitDeliver } from '#infra/local/kitDriver';
import { KIT_KEY, merchantKeyPair, V1_KEY } from '#shared/testing/kitCalls';
import { main } from '../../scripts/market.ts';
import { httpPorts, inProcessDeliver, inProcessDeliverV1, inProcessPorts, type Deliver, type MarketPorts, type Wire } from './ports.ts';
import { plan, runScenario, type ScenarioResult } from './runner.ts';
import { LOCAL_CATALOGUE } from '#infra/local/catalogue';
import { SCENARIOS, scenarioNamed } from './scenarios.ts';

const keys = merchantKeyPair();
const kitHandlers = { tenantSync, applicationSync, authSync, singleOrgSync, allOrgSync } as Record<string, (e: APIGatewayProxyEvent, c: Context) => Promise<unknown>>;
const kitContext = { functionName: 'market', awsRequestId: 'market', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
/** The Kit driver's requests, delivered to the real Kit handlers in this process. */
const kitInProcess: KitDeliver = async ({ path, headers, body }) => {
  const name = path.split('/').pop()!;
  const event = { httpMethod: 'POST', path, resource: path, body, isBase64Encoded: false, headers, multiValueHeaders: {}, queryStringParameters: null, requestContext: {} } as unknown as APIGatewayProxyEvent;
  const result = (await kitHandlers[name]!(event, kitContext)) as APIGatewayProxyResult;
  return { statusCode: result.statusCode, headers: result.headers as Record<string, string>, body: result.body };
};

let h: Harness;
/** a local marketplace whose Kit driver delivers to the real Kit handlers (the harness's has none) */
let kitMarket: LocalMarketplace;
beforeAll(async () => {
  h = await startHarness({ KOOGALLERY_KIT_PRIVATE_KEY: keys.privateKey, SSO_BASE_URL: 'http://127.0.0.1:3000', PRODUCT_CATALOGUE: JSON.stringify(LOCAL_CATALOGUE) });
  kitMarket = await startLocalMarketplace({
    port: 0,
    credentials: {},
    kit: { backendUrl: 'http://unused.invalid', kitAccessKey: KIT_KEY, v1Key: V1_KEY, merchantPublicKeyPem: keys.publicKey, deliver: kitInProcess },
  });
});
afterAll(async () => {
  await kitMarket.close();
  await h.close();
});

const SSO = { '/sso/login': ssoLogin, '/sso/callback': ssoCallback, '/sso/session': ssoSession, '/sso/logout': ssoLogout };

const ports = (deliver: Deliver = inProcessDeliver(produce), routes: Record<string, (event: any, context: Context) => Promise<unknown>> = {}): MarketPorts =>
  inProcessPorts({
    produce: deliver,
    produceV1: inProcessDeliverV1(produceV1),
    license: inProcessDeliver(licenseRoute, '/license'),
    internal: {
      '/internal/usage': usage,
      '/internal/instances/{instanceId}/package': usage,
      '/internal/instances/{instanceId}': getInstance,
      '/internal/licenses/{code}': licenses,
      '/internal/licenses/{code}/activate': licenses,
      '/internal/tenants/{tenantId}': getTenant,
      '/internal/orders/{orderId}': hardwareOrders,
      '/internal/orders/{orderId}/shipment': hardwareOrders,
      '/internal/orders/{orderId}/sign-off': hardwareOrders,
    },
    jobs: { expiryFreeze, resourceRelease, usagePush, hardwareAutoAccept },
    routes: { ...SSO, ...routes },
    marketplace: h.marketplace.url,
    kitMarketplace: kitMarket.url,
  });
const options = { accessKey: LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY };
const failures = (r: ScenarioResult) => r.rows.filter((row) => row.verdict === 'FAIL').map((row) => row.note);

describe('npm run market, in process', () => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('%s passes against the real handlers', async (_name, scenario) => {
    const result = await runScenario(scenario, ports(), options);
    if (result.failed) console.log(JSON.stringify(result.rows.filter(r => r.verdict !== 'ok'), null, 1));
    expect(failures(result)).toEqual([]);
    expect(result.skipped).toBe(0);
  });
});

// ================================================================ broken handlers must fail, naming the step

/** A produce handler that answers 000000 (signed) to `activity` without calling the real one. */
function answersWithoutWriting(activity: string): Deliver {
  const real = inProcessDeliver(produce);
  return async (raw, query) => {
    if (JSON.parse(raw).activity !== activity) return real(raw, query);
    const body = JSON.stringify({ resultCode: '000000', resultMsg: 'success.' });
    return { status: 200, headers: { 'body-sign': bodySignHeader(options.accessKey, body) }, body };
  };
}

/** A produce handler that answers a new instanceId to every newInstance after the first. */
function newIdOnResend(): Deliver {
  const real = inProcessDeliver(produce);
  let seen = 0;
  return async (raw, query) => {
    const wire = await real(raw, query);
    if (JSON.parse(raw).activity !== 'newInstance' || seen++ === 0) return wire;
    const body = JSON.stringify({ ...JSON.parse(wire.body), instanceId: 'a-different-instance' });
    return { ...wire, headers: { ...wire.headers, 'body-sign': bodySignHeader(options.accessKey, body) }, body };
  };
}

describe('npm run market against broken handlers', () => {
  it('a renewal answered 000000 without being applied fails at the step that reads the expiry', async () => {
    const result = await runScenario(scenarioNamed('renewal')!, ports(answersWithoutWriting('refreshInstance')), options);
    expect(result.failed).toBe(1);
    expect(failures(result)).toEqual([expect.stringMatching(/^step 3 "expiry moved": expected 200 expireTime=2032-11-24T23:59:59.000Z, saw expireTime=2031-11-24T23:59:59.000Z$/)]);
  });

  it('a resend of newInstance answered with another instanceId fails at the resend', async () => {
    const result = await runScenario(scenarioNamed('yearly-purchase')!, ports(newIdOnResend()), options);
    expect(failures(result)).toEqual([expect.stringMatching(/^step 2 "purchase \(resend, fresh nonce\)": expected 000000 instanceId=\S+, saw instanceId=a-different-instance$/)]);
  });

  it('a newInstance answered 000000 with no instanceId fails there, and what depended on it fails too (never a pass by skipping)', async () => {
    const real = inProcessDeliver(produce);
    const noId: Deliver = async (raw, query) => {
      const wire = await real(raw, query);
      if (JSON.parse(raw).activity !== 'newInstance') return wire;
      const body = JSON.stringify({ ...JSON.parse(wire.body), instanceId: null });
      return { ...wire, headers: { ...wire.headers, 'body-sign': bodySignHeader(options.accessKey, body) }, body };
    };
    const result = await runScenario(scenarioNamed('yearly-purchase')!, ports(noId), options);
    expect(failures(result)[0]).toMatch(/^step 2 "purchase": expected 000000 instanceId=\S+, saw instanceId=null$/);
    expect(result.rows.filter((r) => r.verdict === 'skip')).toEqual([]);
    expect(result.failed).toBeGreaterThanOrEqual(3);
  });

  it('an answer without a valid Body-Sign is a violation', async () => {
    const real = inProcessDeliver(produce);
    const unsigned: Deliver = async (raw, query) => ({ ...(await real(raw, query)), headers: {} });
    const result = await runScenario(scenarioNamed('renewal')!, ports(unsigned), options);
    expect(failures(result)[0]).toMatch(/^step 1 "purchase": .*answer without a valid Body-Sign/);
  });

  it('a session route that ignores a disabled user fails at the step that expects the session withdrawn', async () => {
    // remembers the first answer per session cookie and answers it again: a disabled user stays signed in
    const answered = new Map<string, unknown>();
    const stale = async (event: APIGatewayProxyEvent, c: Context) => {
      const cookie = event.headers?.Cookie ?? '';
      if (!answered.has(cookie)) answered.set(cookie, await ssoSession(event, c));
      return answered.get(cookie);
    };
    const result = await runScenario(scenarioNamed('joint-operation')!, ports(undefined, { '/sso/session': stale }), options);
    expect(failures(result)[0]).toMatch(/^step 12 "bob's session is withdrawn": expected 401 cookies.kg_session=, saw code 200, cookies.kg_session=\(none\)/);
  });

  it('a job that does nothing leaves the instance active: the freeze check fails', async () => {
    const broken = { ...ports(), job: async () => ({ due: 0, read: 0, done: 0, skipped: 0, failed: 0, deferred: 0 }) };
    const result = await runScenario(scenarioNamed('expiry-freeze-release')!, broken, options);
    expect(failures(result)[0]).toMatch(/^step 5 "frozen locally": expected 200 status=FROZEN frozenLocally=true, saw status=ACTIVE/);
  });
});

// ================================================================ chaos and target

/**
 * What a seed decides: the steps, their order, the calls and the verdicts. Not the codes of copies in
 * flight: which of two racing copies answers 000004 (provisioning) is the race's, not the seed's.
 */
const shape = (r: ScenarioResult) => r.rows.map((row) => [row.step, row.name, row.call, row.name.includes('in flight') ? '(copies)' : row.code, row.verdict]);

describe('npm run market --chaos', () => {
  it('with a fixed seed plays the same duplicates, order and replays, and the real handlers pass', async () => {
    const scenario = scenarioNamed('dial-test')!;
    const a = await runScenario(scenario, ports(), { ...options, chaos: true, seed: 7 });
    const b = await runScenario(scenario, ports(), { ...options, chaos: true, seed: 7 });
    expect(failures(a)).toEqual([]);
    expect(shape(b)).toEqual(shape(a));
    expect(a.rows.some((r) => r.name.includes('in flight'))).toBe(true);
    expect(a.rows.some((r) => r.name.includes('replay of a used nonce') && r.code === '000001')).toBe(true);
    // another seed, another plan
    const c = plan(scenario, scenario.steps('X'), { chaos: true, seed: 8 });
    const d = plan(scenario, scenario.steps('X'), { chaos: true, seed: 7 });
    expect(c.map((p) => [p.index, p.copies, p.replay])).not.toEqual(d.map((p) => [p.index, p.copies, p.replay]));
    expect(plan(scenario, scenario.steps('X'), { chaos: true, seed: 7 }).map((p) => [p.index, p.copies, p.replay])).toEqual(d.map((p) => [p.index, p.copies, p.replay]));
  });

  it.each(['yearly-purchase', 'renewal-change', 'upgrade', 'on-demand-usage', 'joint-operation', 'hardware'])('%s passes with chaos (seed 3)', async (name) => {
    const result = await runScenario(scenarioNamed(name)!, ports(), { ...options, chaos: true, seed: 3 });
    expect(failures(result)).toEqual([]);
  });

  it('a service that accepts a replayed nonce fails the replay row', async () => {
    const real = inProcessDeliver(produce);
    const seen = new Map<string, Wire>();
    const noNonceCheck: Deliver = async (raw, query) => {
      const again = seen.get(query.nonce!);
      if (again) return again;
      const wire = await real(raw, query);
      seen.set(query.nonce!, wire);
      return wire;
    };
    const result = await runScenario(scenarioNamed('dial-test')!, ports(noNonceCheck), { ...options, chaos: true, seed: 7 });
    expect(failures(result).length).toBeGreaterThan(0);
    expect(failures(result).every((f) => /\(replay of a used nonce\)": expected 000001, saw code 000000/.test(f!))).toBe(true);
  });
});

describe('npm run market --target', () => {
  it('skips the steps that need the local marketplace, the internal routes or the clock, with a note', async () => {
    const dial = await runScenario(scenarioNamed('dial-test')!, ports(), { ...options, target: true });
    expect(failures(dial)).toEqual([]);
    expect(dial.rows.filter((r) => r.verdict === 'skip').map((r) => [r.name, r.note])).toEqual([['instance as the operator sees it', '--target: needs the internal routes']]);
    const expiry = await runScenario(scenarioNamed('expiry-freeze-release')!, ports(), { ...options, target: true });
    expect(expiry.passed).toBe(0);
    expect(expiry.rows.map((r) => r.note)).toEqual([
      'needs the local marketplace',
      '--target: its order lives only in the local marketplace',
      '--target: its order lives only in the local marketplace',
      ...Array.from({ length: 4 }, () => ['--target: needs the clock', '--target: needs the internal routes']).flat(),
    ]);
    for (const name of ['joint-operation', 'hardware']) {
      const result = await runScenario(scenarioNamed(name)!, ports(), { ...options, target: true });
      expect([result.passed, result.failed, result.skipped === result.rows.length]).toEqual([0, 0, true]);
    }
  });
});

// ================================================================ the browser port over HTTP

describe('httpPorts route', () => {
  it('sends the cookies, does not follow the redirect, reads every Set-Cookie', async () => {
    const { createServer } = await import('node:http');
    const server = createServer((req, res) => {
      res.writeHead(302, { Location: `http://idp.invalid/authorize?state=s1&seen=${encodeURIComponent(req.headers.cookie ?? '')}`, 'Set-Cookie': ['a=1; Path=/', 'b=; Max-Age=0'] });
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const wire = await httpPorts({ api: `http://127.0.0.1:${port}` }).route!({ path: '/sso/login', query: { tenant: 't' }, cookies: { kg_login: 'x', other: 'y' } });
      expect(wire.status).toBe(302);
      expect(wire.setCookies).toEqual(['a=1; Path=/', 'b=; Max-Age=0']);
      expect(new URL(wire.headers.location!).searchParams.get('seen')).toBe('kg_login=x; other=y');
    } finally {
      server.close();
    }
  });
});

// ================================================================ the CLI

describe('scripts/market.ts', () => {
  const io = () => {
    const out: string[] = [];
    return { out, io: { out: (t: string) => void out.push(t), err: (t: string) => void out.push(t), colour: false } };
  };

  it('prints a table per scenario and a summary, writes --json, exits 0 when all pass', async () => {
    const { out, io: cliIo } = io();
    const file = join(tmpdir(), `market-${process.pid}.json`);
    const code = await main(['yearly-purchase', 'renewal', '--json', file], cliIo, { env: {}, ports: () => ports() });
    expect(code).toBe(0);
    const text = out.join('\n');
    expect(text).toMatch(/^yearly-purchase — /m);
    expect(text).toMatch(/#\s+step\s+call\s+code\s+ms\s+expected\s+seen\s+verdict/);
    expect(text).toMatch(/PASS — 2 scenario\(s\), \d+ steps: \d+ ok, 0 failed, 0 skipped/);
    const data = JSON.parse(readFileSync(file, 'utf8'));
    expect(data.summary).toMatchObject({ scenarios: 2, failed: 0 });
    expect(data.scenarios[0].rows[0]).toMatchObject({ call: 'POST /__local/orders', verdict: 'ok' });
  });

  it('exits 1 on a violation and names it; 2 on an unknown scenario', async () => {
    const { out, io: cliIo } = io();
    expect(await main(['renewal'], cliIo, { env: {}, ports: () => ports(answersWithoutWriting('refreshInstance')) })).toBe(1);
    expect(out.join('\n')).toMatch(/FAIL: 1 violation\(s\)/);
    expect(out.join('\n')).toMatch(/✗ step 3 "expiry moved"/);
    expect(await main(['no-such'], io().io, { env: {}, ports: () => ports() })).toBe(2);
    expect(await main(['all', 'no-such'], io().io, { env: {}, ports: () => ports() })).toBe(2);
    // a deployment is checked with its own keys and a real URL, or not at all
    const usage = io();
    expect(await main(['dial-test', '--target', 'https://api.example.com/prod'], usage.io, { env: {}, ports: () => ports() })).toBe(2);
    expect(usage.out.join('\n')).toMatch(/--target needs KOOGALLERY_ACCESS_KEY/);
    expect(await main(['dial-test', '--target', 'api.example.com'], io().io, { env: { KOOGALLERY_ACCESS_KEY: 'k' }, ports: () => ports() })).toBe(2);
    expect(await main(['dial-test', '--target', 'https://user:pw@api.example.com'], io().io, { env: { KOOGALLERY_ACCESS_KEY: 'k' }, ports: () => ports() })).toBe(2);
  });
});
