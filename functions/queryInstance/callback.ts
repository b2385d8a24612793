import * as z from 'zod';
import { queryInstances } from '#shared/domain/instances';
import { defineCallback, fields } from '#shared/http/callback';

/** 1–100 comma-separated instance ids (spec 3.2). */
const instanceIds = z
  .string()
  .max(100 * 65, 'too long')
  .transform((s) => s.split(',').map((id) => id.trim()))
  .pipe(
    z
      .array(fields.id())
      .min(1)
      .max(100, 'at most 100 instance ids'),
  );

/** Query instance (spec 3.2). */
export const queryInstance = defineCallback({
  activity: 'queryInstance',
  schema: z.object({ instanceId: instanceIds, testFlag: fields.testFlag }),
  run: (svc, call, { instanceId }) => queryInstances(svc, call, instanceId),
});
