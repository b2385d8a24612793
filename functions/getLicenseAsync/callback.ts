import * as z from '#shared/zod';
import { parseLicenseTime, requestLicense } from '#shared/domain/onlineLicense';
import { defineCallback, fields } from '#shared/http/callback';
import '#shared/runtime/licensing';

/** A License time (spec 3.12, String 32): `2023-10-27 10:30:15 z` and the compact UTC forms (onlineLicense.ts). */
const licenseTime = () =>
  z.pipe(
    z.string().check(z.maxLength(32, 'must be at most 32 characters')),
    z.transform((value: string, ctx) => {
      const date = parseLicenseTime(value);
      if (!date) ctx.issues.push({ code: 'custom', message: 'must be a UTC time such as "2023-10-27 10:30:15 z" or yyyyMMddHHmmss', input: value });
      return date ?? z.NEVER;
    }),
  );

/** Asynchronous License request of an online-License instance (spec 3.12); delivered by upload (6.4). */
export const getLicenseAsync = defineCallback({
  activity: 'getLicenseAsync',
  schema: z.object({
    instanceId: fields.id(),
    effectiveTime: licenseTime(),
    expireTime: z.optional(licenseTime()),
    eventId: fields.id(),
    deviceFingerprint: z.optional(z.string().check(z.maxLength(1024, 'must be at most 1024 characters'))),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { instanceId, effectiveTime, expireTime, eventId, deviceFingerprint }) =>
    requestLicense(svc, call, {
      instanceId,
      eventId,
      effectiveTime,
      ...(expireTime ? { expireTime } : {}),
      ...(deviceFingerprint !== undefined ? { deviceFingerprint } : {}),
    }),
});
