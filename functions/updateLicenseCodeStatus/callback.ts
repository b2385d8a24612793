import * as z from '#shared/zod';
import { applyLicenseCallback } from '#shared/domain/licenseService';
import { defineCallback, fields } from '#shared/http/callback';
import '#shared/runtime/licensing';

/** License 2.0 freeze / unfreeze (spec 3.11): idempotent per (license, status). */
export const updateLicenseCodeStatus = defineCallback({
  activity: 'updateLicenseCodeStatus',
  schema: z.object({
    license: fields.id(),
    status: z.enum(['FREEZE', 'UNFREEZE']),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { license, status }) => applyLicenseCallback(svc, call, license, { kind: status }),
});
