/**
 * Plays scenarios the way the marketplace does: signed calls (V2 query signature, fresh nonce each time),
 * documented resends, scheduled jobs as of a moved clock, operator routes; and with chaos (seeded):
 * duplicates in flight, reordering of independent steps, replays of a used nonce. Every step has an
 * expectation; a row is a verdict. Never imports a test runner.
 */
import { randomBytes } from 'node:crypto';
import type { OrderInfo } from '../openapi/order.ts';
import { bodySignHeader, signV2Request } from '../protocol/signature.ts';
import { formatMarketTimeMillis } from '../protocol/time.ts';
import { computeAuthToken } from '../protocol/v1.ts';
import { LOCAL_DEFAULTS } from '../secrets.ts';
import { seededRandom } from '../testing/seededRandom.ts';
import type { InternalRequest } from '../testing/apiEvents.ts';
import type { Deliver, MarketPorts, Wire } from './ports.ts';

export type Vars = Record<string, string>;

/** What a step does. */
export type Call =
  | { kind: 'produce'; body: Record<string, unknown> & { activity: string }; path?: '/license' }
  /** GET /produce/v1: the parameters without timeStamp and authToken (added when delivered) */
  | { kind: 'v1'; params: Record<string, string> & { activity: string } }
  | { kind: 'job'; job: string; time: string }
  | ({ kind: 'internal' } & InternalRequest)
  | { kind: 'local'; method: 'GET' | 'POST'; path: string; body?: unknown }
  /**
   * a browser: GET of a public API route (`/sso/...`) with cookies, or of any URL (`url`: the identity service);
   * redirects are not followed. The answer reads as `{ body, location, redirect: <location's query>, cookies: <set> }`
   * (a cookie cleared reads as '').
   */
  | { kind: 'route'; path: string; query?: Record<string, string>; cookies?: Record<string, string> }
  | { kind: 'browse'; url: string };

/** A field's expected value: a literal, or ANY (present, any value). */
export const ANY = '<any>';

export interface Expect {
  /** produce: the result code(s) accepted; internal / local: the HTTP status */
  code?: string | string[];
  /** dot paths into the answer (`info.0.expireTime`, `done`) → expected value */
  fields?: Record<string, unknown>;
  /** anything else: a description and a test of the answer */
  check?: { text: string; test(json: any): boolean };
}

export interface StepDef {
  name: string;
  /** what it needs beyond the production interface: skipped on `--target` */
  needs?: 'local marketplace' | 'internal routes' | 'clock';
  /** consecutive steps with the same group are independent: `--chaos` may reorder them */
  group?: string;
  /** a documented retry: delivered once more with a fresh nonce (and businessId), the same answer expected */
  resend?: boolean;
  /** `--chaos` never sends copies of it at once (default: produce steps may be duplicated) */
  noDuplicates?: boolean;
  call(vars: Vars): Call;
  expect(vars: Vars): Expect;
  /** variables read from the (first matching) answer: name → dot path */
  save?: Record<string, string>;
}

export interface Scenario {
  name: string;
  title: string;
  /** orders registered in the local marketplace first (`POST /__local/orders`) */
  orders?(id: string): OrderInfo[];
  /** its marketplace calls are about things only the local marketplace knows (skipped on `--target`) */
  local?: boolean;
  steps(id: string): StepDef[];
}

export interface RunOptions {
  chaos?: boolean;
  seed?: number;
  /** running against a deployment: local-only steps are skipped with a note */
  target?: boolean;
  /** V2 access key used to sign (and check Body-Sign) */
  accessKey: string;
  /** V1 key (authToken, Body-Sign of V1 answers); the local default otherwise */
  v1Key?: string;
  /** a unique prefix for the order ids of this run (default: random) */
  runId?: string;
  /** called before and after every row (progress line) */
  onProgress?(scenario: string, row: number, rows: number, label: string): void;
}

export type Verdict = 'ok' | 'FAIL' | 'skip';

export interface Row {
  step: number;
  name: string;
  call: string;
  /** what was seen: result code, HTTP status or a job's counts; one per copy */
  code: string;
  ms: number;
  expected: string;
  seen: string;
  verdict: Verdict;
  note?: string;
}

export interface ScenarioResult {
  scenario: string;
  title: string;
  rows: Row[];
  passed: number;
  failed: number;
  skipped: number;
}

// ================================================================ the plan (pure function of the seed)

interface Planned {
  index: number;
  def: StepDef;
  /** copies delivered at once (1: no duplicate) */
  copies: number;
  /** a replay of the request just sent (same nonce), expected 000001 */
  replay: boolean;
}

const hash = (s: string) => [...s].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) >>> 0, 7);

export function plan(scenario: Scenario, steps: StepDef[], options: { chaos?: boolean; seed?: number }): Planned[] {
  const planned: Planned[] = steps.map((def, index) => ({ index, def, copies: 1, replay: false }));
  if (!options.chaos) return planned;
  const random = seededRandom(((options.seed ?? 1) ^ hash(scenario.name)) >>> 0);
  // reorder runs of independent steps (Fisher–Yates within each run of one group)
  for (let start = 0; start < planned.length; ) {
    let end = start + 1;
    const group = planned[start]!.def.group;
    while (group && end < planned.length && planned[end]!.def.group === group) end++;
    for (let i = end - 1; i > start; i--) {
      const j = start + Math.floor(random() * (i - start + 1));
      [planned[i], planned[j]] = [planned[j]!, planned[i]!];
    }
    start = end;
  }
  for (const p of planned) {
    const produce = isProduce(p.def);
    p.copies = produce && !p.def.noDuplicates && random() < 0.4 ? 2 + Math.floor(random() * 3) : 1;
    p.replay = produce && random() < 0.3;
  }
  return planned;
}

const kindOf = (def: StepDef): Call['kind'] | undefined => {
  try {
    return def.call(new Proxy({}, { get: () => 'x' }) as Vars).kind;
  } catch {
    return undefined;
  }
};

/** Whether a step is a V2 marketplace call (decided without variables: its call is built with placeholders). */
const isProduce = (def: StepDef) => kindOf(def) === 'produce';
/** Whether a step is a marketplace call of either interface. */
const isMarketCall = (def: StepDef) => kindOf(def) === 'produce' || kindOf(def) === 'v1';

// ================================================================ running

const get = (value: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[key] : undefined), value);

const show = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));

function describeCall(call: Call): string {
  switch (call.kind) {
    case 'produce': {
      const b = call.body;
      const detail = [b.scene, b.status, b.testFlag === '1' ? 'testFlag=1' : undefined].filter(Boolean).join(' ');
      return `${call.path ? `${call.path} ` : ''}${b.activity}${detail ? ` ${detail}` : ''}`;
    }
    case 'v1':
      return `V1 ${call.params.activity}${call.params.instanceStatus ? ` ${call.params.instanceStatus}` : ''}`;
    case 'job':
      return `job ${call.job} @ ${call.time.replace(/:\d\d(\.\d+)?Z$/, 'Z')}`;
    case 'internal':
      return `${call.method} ${call.resource.replace(/\{(\w+)\}/g, (_w, n: string) => (call.pathParameters?.[n] ? `{${n}}` : ''))}`;
    case 'local':
      return `${call.method} ${call.path}`;
    case 'route':
      return `GET ${call.path}${call.cookies && Object.keys(call.cookies).length ? ` (${Object.keys(call.cookies).join(', ')})` : ''}`;
    case 'browse': {
      const url = new URL(call.url);
      return `GET ${url.host}${url.pathname}`;
    }
  }
}

interface Seen {
  code: string;
  json: unknown;
  ms: number;
  problem?: string;
}

class MissingVar extends Error {}

/** Variables as steps read them: a missing one means an earlier step did not give it. */
const guarded = (vars: Vars): Vars =>
  new Proxy(vars, {
    get(target, name: string) {
      if (!(name in target)) throw new MissingVar(`no ${name} (an earlier step did not give one)`);
      return target[name];
    },
  });

/** Runs one scenario; never throws for what the service answers (a thrown transport error is a FAIL row). */
export async function runScenario(scenario: Scenario, ports: MarketPorts, options: RunOptions): Promise<ScenarioResult> {
  const id = `${options.runId ?? `MK${randomBytes(5).toString('hex').toUpperCase()}`}${scenario.name.replace(/[^a-z]/g, '').slice(0, 6).toUpperCase()}`;
  const rows: Row[] = [];
  const vars: Vars = {};
  const orders = scenario.orders?.(id) ?? [];
  const steps = scenario.steps(id);
  const planned = plan(scenario, steps, options);
  const total = orders.length + planned.reduce((n, p) => n + 1 + (p.def.resend ? 1 : 0) + (p.replay ? 1 : 0), 0);
  const progress = (label: string) => options.onProgress?.(scenario.name, rows.length, total, label);
  const local = orders.length > 0 || scenario.local === true;

  for (const order of orders) {
    progress(`register ${order.orderId}`);
    if (options.target) {
      rows.push(skipRow(rows, 0, `order ${order.orderId}`, 'POST /__local/orders', 'needs the local marketplace'));
      continue;
    }
    const started = Date.now();
    const seen: Seen = await ports.local('POST', '/__local/orders', order).then(
      (wire) => ({ code: String(wire.status), json: parseJson(wire.body), ms: 0 }),
      (e: Error) => ({ code: 'error', json: undefined, ms: 0, problem: e.message }),
    );
    seen.ms = Date.now() - started;
    rows.push(judge(rows, 0, `order ${order.orderId}`, 'POST /__local/orders', seen, { code: ['200', '204'] }));
  }

  let lastSigned: { raw: string; query: Record<string, string>; deliver: Deliver } | undefined;
  const deliverOf = (c: Extract<Call, { kind: 'produce' }>): Deliver => {
    if (c.path !== '/license') return ports.produce;
    if (!ports.license) throw new Error('no /license port');
    return ports.license;
  };
  for (const p of planned) {
    const { def } = p;
    const step = p.index + 1;
    progress(def.name);
    let call: Call | undefined;
    let blocked: string | undefined;
    try {
      call = def.call(guarded(vars));
    } catch (error) {
      if (!(error instanceof MissingVar)) throw error;
      blocked = `blocked: ${error.message}`;
    }
    const label = call ? describeCall(call) : '';
    const produce = isMarketCall(def);
    if (options.target && (def.needs || (local && produce))) {
      const why = def.needs ? `needs the ${def.needs}` : 'its order lives only in the local marketplace';
      rows.push(skipRow(rows, step, def.name, label, `--target: ${why}`));
      if (p.def.resend) rows.push(skipRow(rows, step, `${def.name} (resend)`, label, `--target: ${why}`));
      continue;
    }
    if (!call || blocked) {
      // a step that cannot run because an earlier answer lacked what it needs is a violation, not a skip
      const why = blocked ?? 'blocked';
      rows.push({ ...skipRow(rows, step, def.name, label, why), verdict: 'FAIL', note: `step ${step} "${def.name}": ${why}` });
      continue;
    }
    const expect = def.expect(vars);

    const deliver = async (): Promise<Seen> => {
      const c = def.call(vars); // built afresh: a new businessId for every newInstance delivery
      const started = Date.now();
      try {
        if (c.kind === 'produce') {
          const signed = { ...sign(c.body, options.accessKey), deliver: deliverOf(c) };
          lastSigned = signed;
          return { ...readProduce(await signed.deliver(signed.raw, signed.query), options.accessKey), ms: Date.now() - started };
        }
        if (c.kind === 'v1') {
          if (!ports.produceV1) throw new Error('no V1 port');
          const key = options.v1Key ?? LOCAL_DEFAULTS.KOOGALLERY_V1_KEY;
          const params = { ...c.params, timeStamp: formatMarketTimeMillis(new Date()) };
          return { ...readProduce(await ports.produceV1({ ...params, authToken: computeAuthToken(key, params) }), key), ms: Date.now() - started };
        }
        if (c.kind === 'job') {
          const summary = await ports.job(c.job, { 'detail-type': 'Scheduled Event', time: c.time });
          const s = (summary ?? {}) as Record<string, unknown>;
          return { code: `done ${s.done ?? '?'}`, json: summary, ms: Date.now() - started };
        }
        if (c.kind === 'route' || c.kind === 'browse') {
          if (!ports[c.kind]) throw new Error(`no ${c.kind} port`);
          const wire =
            c.kind === 'route'
              ? await ports.route!({ path: c.path, ...(c.query ? { query: c.query } : {}), ...(c.cookies ? { cookies: c.cookies } : {}) })
              : await ports.browse!(c.url);
          return { code: String(wire.status), json: readPage(wire), ms: Date.now() - started };
        }
        const wire = c.kind === 'internal' ? await ports.internal(c) : await ports.local(c.method, c.path, c.body);
        return { code: String(wire.status), json: parseJson(wire.body), ms: Date.now() - started };
      } catch (error) {
        return { code: 'error', json: undefined, ms: Date.now() - started, problem: error instanceof Error ? error.message : String(error) };
      }
    };

    // the marketplace's delivery (copies at once under --chaos)
    const seen = await Promise.all(Array.from({ length: p.copies }, deliver));
    const row = judgeCopies(rows, step, def.name, label, seen, expect, def, vars);
    rows.push(row);
    const replayOf = lastSigned;

    if (def.resend) {
      progress(`${def.name} (resend)`);
      const again = await deliver();
      rows.push(judge(rows, step, `${def.name} (resend, fresh nonce)`, label, again, def.expect(vars)));
    }
    if (p.replay && replayOf) {
      progress(`${def.name} (replay)`);
      const started = Date.now();
      let seenReplay: Seen;
      try {
        seenReplay = { ...readProduce(await replayOf.deliver(replayOf.raw, replayOf.query), options.accessKey), ms: 0 };
      } catch (error) {
        seenReplay = { code: 'error', json: undefined, ms: 0, problem: String(error) };
      }
      seenReplay.ms = Date.now() - started;
      rows.push(judge(rows, step, `${def.name} (replay of a used nonce)`, label, seenReplay, { code: '000001' }));
    }
  }
  progress('done');
  const count = (v: Verdict) => rows.filter((r) => r.verdict === v).length;
  return { scenario: scenario.name, title: scenario.title, rows, passed: count('ok'), failed: count('FAIL'), skipped: count('skip') };
}

function sign(body: Record<string, unknown>, key: string) {
  const raw = JSON.stringify(body);
  const nonce = randomBytes(32).toString('hex').toUpperCase();
  const timestamp = String(Date.now());
  return { raw, query: { signature: signV2Request(key, nonce, timestamp, raw).toUpperCase(), timestamp, nonce } };
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

/** A browser's page: the body, the redirect (and its query parameters), the cookies set ('' when cleared). */
function readPage(wire: Wire) {
  const location = wire.headers.location;
  let redirect: Record<string, string> = {};
  if (location) {
    try {
      redirect = Object.fromEntries(new URL(location, 'http://relative.invalid').searchParams);
    } catch {
      // not a URL: no parameters
    }
  }
  const cookies: Record<string, string> = {};
  for (const line of wire.setCookies ?? []) {
    const [pair, ...attributes] = line.split(';').map((s) => s.trim());
    const at = pair!.indexOf('=');
    if (at < 1) continue;
    const value = pair!.slice(at + 1);
    cookies[pair!.slice(0, at)] = attributes.some((a) => /^max-age=0$/i.test(a)) ? '' : value;
  }
  return { body: parseJson(wire.body), ...(location ? { location } : {}), redirect, cookies };
}

function readProduce(wire: Wire, key: string): Omit<Seen, 'ms'> {
  const json = parseJson(wire.body) as Record<string, unknown>;
  const code = typeof json === 'object' && json && typeof json.resultCode === 'string' ? json.resultCode : `HTTP ${wire.status}`;
  let problem: string | undefined;
  if (wire.status !== 200) problem = `HTTP ${wire.status}`;
  else if (wire.headers['body-sign'] !== bodySignHeader(key, wire.body)) problem = 'answer without a valid Body-Sign';
  return { code, json, ...(problem ? { problem } : {}) };
}

function expectedText(expect: Expect): string {
  const parts: string[] = [];
  if (expect.code !== undefined) parts.push([expect.code].flat().join('|'));
  for (const [path, value] of Object.entries(expect.fields ?? {})) parts.push(`${path}=${value === ANY ? '*' : show(value)}`);
  if (expect.check) parts.push(expect.check.text);
  return parts.join(' ');
}

/** The problems of one answer against an expectation; empty when it meets it. */
function mismatches(seen: Seen, expect: Expect): string[] {
  const problems: string[] = [];
  if (seen.problem) problems.push(seen.problem);
  const codes = expect.code === undefined ? [] : [expect.code].flat();
  if (codes.length && !codes.includes(seen.code)) problems.push(`code ${seen.code}`);
  for (const [path, value] of Object.entries(expect.fields ?? {})) {
    const actual = get(seen.json, path);
    const absent = actual === undefined || actual === null || actual === '';
    if (value === ANY ? absent : show(actual) !== show(value)) problems.push(`${path}=${actual === undefined ? '(none)' : show(actual)}`);
  }
  if (expect.check && !safeTest(expect.check, seen.json)) problems.push(`not ${expect.check.text}`);
  return problems;
}

function safeTest(check: NonNullable<Expect['check']>, json: unknown): boolean {
  try {
    return check.test(json);
  } catch {
    return false;
  }
}

function seenText(seen: Seen, expect: Expect): string {
  const parts = [seen.code];
  for (const path of Object.keys(expect.fields ?? {})) {
    const actual = get(seen.json, path);
    parts.push(`${path}=${actual === undefined ? '(none)' : show(actual)}`);
  }
  if (seen.problem) parts.push(seen.problem);
  return parts.join(' ');
}

function judge(_rows: Row[], step: number, name: string, call: string, seen: Seen, expect: Expect): Row {
  const problems = mismatches(seen, expect);
  return {
    step,
    name,
    call,
    code: seen.code,
    ms: seen.ms,
    expected: expectedText(expect),
    seen: seenText(seen, expect),
    verdict: problems.length ? 'FAIL' : 'ok',
    ...(problems.length ? { note: `step ${step} "${name}": expected ${expectedText(expect)}, saw ${problems.join(', ')}` } : {}),
  };
}

/** Copies at once: every copy must meet the expectation (a newInstance copy may say 000004), with one answer. */
function judgeCopies(rows: Row[], step: number, name: string, call: string, seen: Seen[], expect: Expect, def: StepDef, vars: Vars): Row {
  const first = seen.find((s) => mismatches(s, expect).length === 0);
  // variables from the first answer that meets the expectation
  if (first) for (const [variable, path] of Object.entries(def.save ?? {})) {
    const value = get(first.json, path);
    if (typeof value === 'string' && !(variable in vars)) vars[variable] = value;
  }
  // what later steps need must be in the answer: a missing one fails here, not later as a skip
  const lacking = first ? Object.entries(def.save ?? {}).filter(([variable]) => !(variable in vars)).map(([, path]) => path) : [];
  // with the variables known, re-read the expectation (a resend's instanceId must be the saved one)
  const resolved = def.expect(vars);
  const row = seen.length === 1 ? judge(rows, step, name, call, seen[0]!, resolved) : undefined;
  if (row && lacking.length && row.verdict === 'ok')
    return { ...row, verdict: 'FAIL', note: `step ${step} "${name}": the answer lacks ${lacking.join(', ')}` };
  if (row) return row;
  const isNew = call.startsWith('newInstance');
  const problems: string[] = [];
  seen.forEach((s, copy) => {
    const m = mismatches(s, resolved);
    const pending = isNew && s.code === '000004' && !s.problem;
    if (m.length && !pending) problems.push(`copy ${copy + 1}: ${m.join(', ')}`);
  });
  if (!seen.some((s) => mismatches(s, resolved).length === 0)) problems.push('no copy answered as expected');
  const ids = new Set(seen.map((s) => get(s.json, 'instanceId')).filter((v) => v !== undefined && v !== ''));
  if (ids.size > 1) problems.push(`copies answered ${ids.size} different instanceIds`);
  return {
    step,
    name: `${name} (×${seen.length} in flight)`,
    call,
    code: seen.map((s) => s.code).join(','),
    ms: Math.max(...seen.map((s) => s.ms)),
    expected: expectedText(resolved),
    seen: seenText(first ?? seen[0]!, resolved),
    verdict: problems.length ? 'FAIL' : 'ok',
    ...(problems.length ? { note: `step ${step} "${name}": ${problems.join('; ')}` } : {}),
  };
}

function skipRow(_rows: Row[], step: number, name: string, call: string, note: string): Row {
  return { step, name, call, code: '-', ms: 0, expected: '-', seen: '-', verdict: 'skip', note };
}

export async function runScenarios(scenarios: Scenario[], ports: MarketPorts, options: RunOptions): Promise<ScenarioResult[]> {
  const results: ScenarioResult[] = [];
  for (const scenario of scenarios) results.push(await runScenario(scenario, ports, options));
  return results;
}
