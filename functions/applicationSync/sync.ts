import * as z from '#shared/zod';
import { applicationSync as run } from '#shared/domain/kit';
import { defineKitSync, kitFields as f } from '#shared/http/kitRoute';

/**
 * Application sync (spec 3.9.2): the OAuth client of the tenant's application. The clientSecret arrives
 * RSA-OAEP encrypted with the merchant's public key (2.6); it is decrypted and stored sealed. A delete
 * needs no secret.
 */
export const applicationSync = defineKitSync({
  name: 'applicationSync',
  schema: z
    .object({
      instanceId: f.optionalId(),
      tenantId: f.id(),
      appId: f.id(),
      clientId: f.id(),
      clientSecret: z._default(f.text(4096), ''),
      flag: f.flag([0, 1, 2]),
      testFlag: f.testFlag,
      timeStamp: f.timeStamp(),
    })
    .check(
      z.refine((b) => b.flag === 0 || b.clientSecret !== '', { message: 'must not be empty', path: ['clientSecret'] }),
    ),
  v1Flags: [0, 1],
  run,
});
