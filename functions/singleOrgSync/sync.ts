import * as z from '#shared/zod';
import { singleOrgSync as run } from '#shared/domain/kit';
import { defineKitSync, kitFields as f } from '#shared/http/kitRoute';

/**
 * Department incremental sync (spec 3.9.4). Departments may arrive child first, so an unknown parent is
 * accepted; a move that would make a department its own ancestor is refused (000002). A call older than
 * the last full sync writes nothing.
 */
export const singleOrgSync = defineKitSync({
  name: 'singleOrgSync',
  schema: z
    .object({
      instanceId: f.optionalId(),
      tenantId: f.id(),
      orgCode: f.id(),
      orgName: z._default(f.text(128), ''),
      parentCode: z.optional(f.text(64)),
      flag: f.flag([0, 1, 2]),
      testFlag: f.testFlag,
      timeStamp: f.timeStamp(),
    })
    .check(z.refine((b) => b.flag === 0 || b.orgName.trim() !== '', { message: 'must not be empty', path: ['orgName'] })),
  run,
});
