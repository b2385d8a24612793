import * as z from '#shared/zod';
import { updateInstanceStatus as updateStatus } from '#shared/domain/instanceCallbacks';
import { defineCallback, fields } from '#shared/http/callback';

/** Freeze / unfreeze (spec 3.4). */
export const updateInstanceStatus = defineCallback({
  activity: 'updateInstanceStatus',
  schema: z.object({
    instanceId: fields.id(),
    status: z.enum(['FREEZE', 'UNFREEZE']),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { instanceId, status }) => updateStatus(svc, call, { instanceId, status }),
});
