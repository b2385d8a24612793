/**
 * `npm run backfill-timers`: once, after upgrading a deployment made with the first version, gives every
 * instance the timers this version derives (expiry freeze, release). It scans the table once; run it
 * with the stage's environment, e.g.
 *   TABLE_NAME=koogallery-prod AWS_REGION=ap-southeast-1 SECRETS_PARAMETER=/koogallery/prod/secrets STAGE=prod npm run backfill-timers
 * (locally, against `npm start`: `DYNAMODB_ENDPOINT=http://127.0.0.1:8000 npm run backfill-timers`).
 */
import { getRuntime } from '#shared/runtime';
import type { Store } from '#shared/storage/store';

const { services } = await getRuntime();
const done = await (services.store as Store).backfillInstanceTimers(({ scanned, rewritten }) =>
  console.log(`instances scanned ${scanned}, rewritten ${rewritten}`),
);
console.log(`done: ${done.rewritten} of ${done.scanned} instances carry this version's timers`);
