/**
 * `npm run backfill-timers`: once, after upgrading a deployment made with an earlier version, gives every
 * instance the timers this version derives (expiry freeze, release) and every live instance its daily
 * reconciliation marker (reconcile; instances created since carry one from their creation). It scans
 * the table once and may be run again (an existing marker is kept); run it with the stage's
 * environment, e.g.
 *   TABLE_NAME=koogallery-prod AWS_REGION=ap-southeast-1 SECRETS_PARAMETER=/koogallery/prod/secrets STAGE=prod npm run backfill-timers
 * (locally, against `npm start`: `DYNAMODB_ENDPOINT=http://127.0.0.1:8000 npm run backfill-timers`).
 */
import { getRuntime } from '#shared/runtime';
import type { Store } from '#shared/storage/store';

const { services } = await getRuntime();
const done = await (services.store as Store).backfillInstanceTimers(({ scanned, rewritten, markers }) =>
  console.log(`instances scanned ${scanned}, rewritten ${rewritten}, reconciliation markers added ${markers}`),
);
console.log(`done: ${done.rewritten} of ${done.scanned} instances carry this version's timers; ${done.markers} live instances got a reconciliation marker`);
