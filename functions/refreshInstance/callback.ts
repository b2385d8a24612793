import * as z from '#shared/zod';
import { refreshInstance as refresh } from '#shared/domain/instanceCallbacks';
import { defineCallback, fields } from '#shared/http/callback';

/** Update instance: trial to paid, renewal, renewal-period unsubscription, renewal change (spec 3.3). */
export const refreshInstance = defineCallback({
  activity: 'refreshInstance',
  schema: z.object({
    instanceId: fields.id(),
    orderId: fields.id(),
    orderLineId: fields.id(),
    scene: z.enum(['TRIAL_TO_FORMAL', 'RENEWAL', 'UNSUBSCRIBE_RENEWAL_PERIOD', 'RENEWAL_CHANGE']),
    expireTime: fields.marketTime(),
    productId: z.optional(fields.id()),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, body) => refresh(svc, call, body),
});
