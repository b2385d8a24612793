import * as z from '#shared/zod';
import { applyLicenseCallback } from '#shared/domain/licenseService';
import { defineCallback, fields } from '#shared/http/callback';
import '#shared/runtime/licensing';

/** License 2.0 renewal / renewal unsubscription (spec 3.11): idempotent per (license, orderId, scene). */
export const refreshLicenseCode = defineCallback({
  activity: 'refreshLicenseCode',
  schema: z.object({
    license: fields.id(),
    scene: z.enum(['RENEWAL', 'UNSUBSCRIBE_RENEWAL_PERIOD']),
    orderId: fields.id(),
    orderLineId: fields.id(),
    productId: z.optional(fields.id()),
    expireTime: fields.marketTime(),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { license, scene, orderId, orderLineId, productId, expireTime }) =>
    applyLicenseCallback(
      svc,
      call,
      license,
      { kind: 'REFRESH', scene, orderId, orderLineId, expireTime, ...(productId ? { productId } : {}) },
      { orderId, orderLineId },
    ),
});
