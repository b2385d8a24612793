/**
 * `npm run ops -- status` and `failed`: what the service holds, as tables — instances by state (an
 * operator-run scan, see shared/storage/instanceCensus.ts), timers due within the next hours per kind
 * (the byDue index, as the jobs read it) and the recent failed calls (a Query per day).
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Repository } from '#shared/domain/repository';
import { TIMER_KINDS } from '#shared/domain/timers';
import type { FailedCall, FailedCallStore } from '#shared/storage/failedCalls';
import { instanceCensus } from '#shared/storage/instanceCensus';
import { formatTable } from './table.ts';

/** Timers read per kind at most (a count at this limit is printed as `N+`). */
export const TIMER_COUNT_LIMIT = 10_000;

export interface StatusDeps {
  store: Pick<Repository, 'dueWork'>;
  failedCalls: FailedCallStore;
  documentClient: DynamoDBDocumentClient;
  tableName: string;
}

export interface TimerLine {
  kind: string;
  /** due at or before now (overdue: the job has not taken them yet) */
  overdue: number;
  /** due after now, within the window */
  upcoming: number;
  earliest?: string;
  capped: boolean;
}

export interface Status {
  instances: Array<{ state: string; production: number; debug: number }>;
  scanned: number;
  timers: TimerLine[];
  failed: FailedCall[];
}

export async function readStatus(deps: StatusDeps, now: Date, hours: number): Promise<Status> {
  const until = new Date(now.getTime() + hours * 3_600_000);
  const since = new Date(now.getTime() - hours * 3_600_000).toISOString();
  const [census, timers, failed] = await Promise.all([
    instanceCensus(deps.documentClient, deps.tableName),
    Promise.all(
      TIMER_KINDS.map(async (kind): Promise<TimerLine> => {
        const { items } = await deps.store.dueWork(kind, until, TIMER_COUNT_LIMIT);
        const overdue = items.filter((i) => i.dueAt <= now.toISOString()).length;
        return { kind, overdue, upcoming: items.length - overdue, earliest: items[0]?.dueAt, capped: items.length >= TIMER_COUNT_LIMIT };
      }),
    ),
    deps.failedCalls.list(now, Math.ceil(hours / 24)),
  ]);
  const instances = [...census.byState.entries()].map(([state, counts]) => ({ state, ...counts })).sort((a, b) => a.state.localeCompare(b.state));
  return { instances, scanned: census.scanned, timers, failed: failed.filter((f) => f.receivedAt >= since) };
}

const ids = (f: FailedCall) =>
  [f.instanceId && `instance ${f.instanceId}`, f.orderId && `order ${f.orderId}${f.orderLineId ? `/${f.orderLineId}` : ''}`, f.tenantId && `tenant ${f.tenantId}`]
    .filter(Boolean)
    .join(', ');

const redriven = (f: FailedCall) => (f.redrives ? `${f.redrives}× (last ${f.lastRedriveCode} at ${f.lastRedriveAt?.slice(0, 19)})` : f.redrivable ? 'no' : 'no (not redrivable)');

export function formatFailed(failed: readonly FailedCall[], title: string): string {
  return formatTable(
    title,
    ['id', 'route', 'activity', 'code', 'message', 'ids', 'redriven'],
    failed.map((f) => [f.id, f.route, `${f.activity}${f.testFlag ? ' (debug)' : ''}`, f.resultCode, f.resultMsg, ids(f), redriven(f)]),
    64,
  );
}

export function formatStatus(status: Status, hours: number): string {
  const total = status.instances.reduce((sum, i) => sum + i.production + i.debug, 0);
  return [
    formatTable(
      `Instances by state (${total}; a scan of ${status.scanned} items)`,
      ['state', 'production', 'debug', 'total'],
      status.instances.map((i) => [i.state, String(i.production), String(i.debug), String(i.production + i.debug)]),
    ),
    formatTable(
      `Timers due in the next ${hours} h`,
      ['timer', 'overdue', `next ${hours} h`, 'earliest'],
      status.timers.map((t) => [t.kind, String(t.overdue), `${t.upcoming}${t.capped ? '+' : ''}`, t.earliest ?? '']),
    ),
    formatFailed(status.failed, `Failed calls in the last ${hours} h (${status.failed.length})`),
  ].join('\n\n');
}
