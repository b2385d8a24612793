import * as z from '#shared/zod';
import { releaseInstance as release } from '#shared/domain/instanceCallbacks';
import { defineCallback, fields } from '#shared/http/callback';

/** Release instance (spec 3.5); orderId / orderLineId only when an unsubscription caused it. */
export const releaseInstance = defineCallback({
  activity: 'releaseInstance',
  schema: z.object({
    instanceId: fields.id(),
    orderId: z.optional(fields.id()),
    orderLineId: z.optional(fields.id()),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { instanceId, orderId, orderLineId }) => release(svc, call, { instanceId, orderId, orderLineId }),
});
