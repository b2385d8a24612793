import * as z from '#shared/zod';
import { tenantSync as run } from '#shared/domain/kit';
import { defineKitSync, kitFields as f } from '#shared/http/kitRoute';

/** Tenant sync (spec 3.9.1): a buyer enterprise bound the application (add), changed name or domain (modify) or left (delete). */
export const tenantSync = defineKitSync({
  name: 'tenantSync',
  schema: z.object({
    instanceId: f.optionalId(),
    orderId: f.optionalId(),
    tenantId: f.id(),
    tenantCode: f.id(),
    name: f.id(255),
    domainName: f.id(255),
    flag: f.flag([0, 1, 2]),
    testFlag: f.testFlag,
    timeStamp: f.timeStamp(),
  }),
  // V1 tenant sync knows add and delete only (spec 3.9.6)
  v1Flags: [0, 1],
  run,
});
