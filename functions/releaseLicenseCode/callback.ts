import * as z from '#shared/zod';
import { applyLicenseCallback } from '#shared/domain/licenseService';
import { defineCallback, fields } from '#shared/http/callback';
import '#shared/runtime/licensing';

/** License 2.0 release (spec 3.11): idempotent per license; the code is kept as RELEASED. */
export const releaseLicenseCode = defineCallback({
  activity: 'releaseLicenseCode',
  schema: z.object({
    license: fields.id(),
    orderId: z.optional(fields.id()),
    orderLineId: z.optional(fields.id()),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { license, orderId, orderLineId }) =>
    applyLicenseCallback(svc, call, license, { kind: 'RELEASE', ...(orderId ? { orderId } : {}) }, { orderId, orderLineId }),
});
