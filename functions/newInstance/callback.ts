import * as z from '#shared/zod';
import { createInstance } from '#shared/domain/provisioning';
import { defineCallback, fields } from '#shared/http/callback';

/** Create instance (spec 3.1). */
export const newInstance = defineCallback({
  activity: 'newInstance',
  schema: z.object({
    orderId: fields.id(),
    orderLineId: fields.id(),
    businessId: fields.id(),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { orderId, orderLineId, businessId }) => createInstance(svc, call, { orderId, orderLineId, businessId }),
});
