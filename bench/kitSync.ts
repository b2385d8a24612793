/**
 * `npm run bench`: the largest joint-operation syncs the marketplace sends (spec 3.9: 500 users per
 * authorisation call; a full department tree of thousands), through the real handlers on DynamoDB
 * Local, against the marketplace's 5 s answer limit. The target is half of it (2.5 s at p99), so a
 * slower cloud round trip still answers in time. Figures are ratios to the 5 s limit: this machine is
 * shared and noisy. Writes bench/results.json (key `kitSync`).
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyResult, Context } from 'aws-lambda';
import { startBenchTable } from './benchTable.ts';

const LIMIT_MS = 5000;
const TARGET_MS = 2500;
const RUNS = Number(process.env.BENCH_KIT_RUNS || 5);
const DEPARTMENTS = Number(process.env.BENCH_DEPARTMENTS || 5000);

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

async function main() {
  const { dynamo } = await startBenchTable();
  // imported once the environment is set: the runtime reads it when it loads
  const { kitEvent, kitStamp } = await import('../shared/testing/kitCalls.ts');
  const { handler: authSync } = await import('../functions/authSync/handler.ts');
  const { handler: allOrgSync } = await import('../functions/allOrgSync/handler.ts');
  const context = { getRemainingTimeInMillis: () => 6000 } as unknown as Context;

  const users = (n: number, tag: string) =>
    Array.from({ length: n }, (_, i) => ({ userName: `user${i}`, name: `User ${i} ${tag}`, orgCode: `d${i % 50}`, role: i ? 'user' : 'admin', enable: 'true', email: `user${i}@corp.example`, mobile: `1380000${String(i).padStart(4, '0')}` }));
  const tree = (n: number, tag: string, offset = 0) => {
    const list = [{ orgCode: 'root', orgName: 'Root', parentCode: '' }];
    for (let i = 1; i < n; i++) list.push({ orgCode: `d${i + offset}`, orgName: `Department ${i} ${tag}`, parentCode: i < 50 ? 'root' : `d${(i % 49) + 1 + offset}` });
    return list;
  };
  async function send(handler: typeof authSync, name: 'authSync' | 'allOrgSync', body: Record<string, unknown>) {
    const event = kitEvent(name, body);
    const started = performance.now();
    const result = (await handler(event as never, context)) as APIGatewayProxyResult;
    return { ms: performance.now() - started, resultCode: JSON.parse(result.body).resultCode as string, bytes: event.body!.length };
  }

  type Scenario = { name: string; run: (tenantId: string) => Promise<{ ms: number; resultCode: string; bytes: number }> };
  const auth = (tenantId: string, tag: string, stamp = kitStamp()) =>
    send(authSync, 'authSync', { instanceId: '', tenantId, appId: 'app', userList: users(500, tag), currentSyncTime: stamp, flag: 1, testFlag: 0, timeStamp: stamp });
  const full = (tenantId: string, list: unknown[], stamp = kitStamp()) => send(allOrgSync, 'allOrgSync', { instanceId: '', tenantId, orgInfoList: list, testFlag: 0, timeStamp: stamp });
  const scenarios: Scenario[] = [
    { name: 'authSync: 500 new users', run: (t) => auth(t, 'a') },
    { name: 'authSync: 500 users modified', run: async (t) => (await auth(t, 'a'), auth(t, 'b')) },
    { name: 'authSync: the same 500 again (all up to date)', run: async (t) => { const stamp = kitStamp(); await auth(t, 'a', stamp); return auth(t, 'a', stamp); } },
    { name: `allOrgSync: ${DEPARTMENTS} new departments`, run: (t) => full(t, tree(DEPARTMENTS, 'a')) },
    { name: `allOrgSync: ${DEPARTMENTS} replacing a tree (half new, half gone)`, run: async (t) => (await full(t, tree(DEPARTMENTS, 'a')), full(t, tree(DEPARTMENTS, 'b', DEPARTMENTS / 2))) },
    { name: `allOrgSync: ${DEPARTMENTS} unchanged`, run: async (t) => (await full(t, tree(DEPARTMENTS, 'a')), full(t, tree(DEPARTMENTS, 'a'))) },
    { name: 'allOrgSync: 20000 departments (the most one call may carry)', run: (t) => full(t, tree(20_000, 'a')) },
  ];

  await scenarios[0]!.run(`warm-${randomUUID()}`); // first import, first connection
  const rows = [];
  for (const scenario of scenarios) {
    const samples: number[] = [];
    const codes = new Set<string>();
    let bytes = 0;
    for (let i = 0; i < RUNS; i++) {
      const { ms, resultCode, bytes: b } = await scenario.run(`bench-${randomUUID()}`);
      samples.push(ms);
      codes.add(resultCode);
      bytes = b;
    }
    samples.sort((a, b) => a - b);
    const p99 = percentile(samples, 99);
    rows.push({
      scenario: scenario.name,
      runs: RUNS,
      bodyKB: Math.round(bytes / 1024),
      resultCodes: [...codes].join(','),
      medianMs: Math.round(percentile(samples, 50)),
      p99Ms: Math.round(p99),
      'p99 / 5 s limit': Number((p99 / LIMIT_MS).toFixed(3)),
      verdict: p99 <= TARGET_MS && codes.size === 1 && codes.has('000000') ? 'ok' : 'OVER TARGET',
    });
  }
  console.table(rows);
  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  writeFileSync(out, `${JSON.stringify({ ...previous, kitSync: { measuredAt: new Date().toISOString(), limitMs: LIMIT_MS, targetMs: TARGET_MS, rows } }, null, 2)}\n`);
  console.log(`written ${out}`);
  await dynamo.stop();
  process.exit(rows.every((r) => r.verdict === 'ok') ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
