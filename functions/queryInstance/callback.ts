import * as z from '#shared/zod';
import { queryInstances } from '#shared/domain/instances';
import { defineCallback, fields } from '#shared/http/callback';

/** 1–100 comma-separated instance ids (spec 3.2). */
const instanceIds = z.pipe(
  z.pipe(
    z.string().check(z.maxLength(100 * 65, 'too long')),
    z.transform((s: string) => s.split(',').map((id) => id.trim())),
  ),
  z.array(fields.id()).check(z.minLength(1), z.maxLength(100, 'at most 100 instance ids')),
);

/** Query instance (spec 3.2). */
export const queryInstance = defineCallback({
  activity: 'queryInstance',
  schema: z.object({ instanceId: instanceIds, testFlag: fields.testFlag }),
  run: (svc, call, { instanceId }) => queryInstances(svc, call, instanceId),
});
