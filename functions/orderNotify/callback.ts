import * as z from '#shared/zod';
import { notifyOrder } from '#shared/domain/orders';
import { defineCallback, fields } from '#shared/http/callback';

/** Order notification (spec 3.8). */
export const orderNotify = defineCallback({
  activity: 'orderNotify',
  schema: z.object({ orderId: fields.id(), orderLineId: fields.id(), testFlag: fields.testFlag }),
  run: (svc, call, { orderId, orderLineId }) => notifyOrder(svc, call, { orderId, orderLineId }),
});
