import * as z from '#shared/zod';
import { upgradeInstance as upgrade } from '#shared/domain/instanceCallbacks';
import { defineCallback, fields } from '#shared/http/callback';

/** Upgrade instance (spec 3.6): the new spec is read from the upgrade order. */
export const upgradeInstance = defineCallback({
  activity: 'upgradeInstance',
  schema: z.object({
    instanceId: fields.id(),
    orderId: fields.id(),
    orderLineId: fields.id(),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { instanceId, orderId, orderLineId }) => upgrade(svc, call, { instanceId, orderId, orderLineId }),
});
