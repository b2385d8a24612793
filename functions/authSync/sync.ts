import * as z from '#shared/zod';
import { authSync as run } from '#shared/domain/kit';
import { defineKitSync, jsonText, kitFields as f } from '#shared/http/kitRoute';

/** At most this many users per call (spec 3.9.3). */
export const MAX_USERS = 500;

const enable = z.pipe(
  z.union([z.enum(['true', 'false']), z.boolean()]),
  z.transform((v: 'true' | 'false' | boolean) => v === true || v === 'true'),
);
const employeeType = z.pipe(
  z.union([z.number().check(z.int()), z.string().check(z.regex(/^\d{1,2}$/, 'must be an integer'))]),
  z.transform((v: number | string) => Number(v)),
);

const User = z.object({
  userName: f.id(),
  name: z._default(f.text(64), ''),
  orgCode: z._default(f.text(64), ''),
  position: z.optional(f.text(255)),
  employeeCode: z.optional(f.text(64)),
  employeeType: z.optional(employeeType),
  role: z.optional(z.enum(['admin', 'user'])),
  enable: z.optional(enable),
  mobile: z.optional(f.text(32)),
  email: z.optional(f.text(128)),
  workPlace: z.optional(f.text(256)),
  entryDate: z.optional(f.text(20)),
});

/**
 * User-authorisation sync (spec 3.9.3): up to 500 users added, modified, deleted or revoked (flag 0–3).
 * An add or modify must say each user's role and whether it is enabled; a delete or revoke needs only
 * the user name.
 */
export const authSync = defineKitSync({
  name: 'authSync',
  schema: z.pipe(
    z
      .object({
        instanceId: f.optionalId(),
        tenantId: f.id(),
        appId: f.id(),
        userList: z.array(User).check(z.maxLength(MAX_USERS, `must hold at most ${MAX_USERS} users`)),
        currentSyncTime: z._default(f.text(32), ''),
        flag: f.flag([0, 1, 2, 3]),
        testFlag: f.testFlag,
        timeStamp: f.timeStamp(),
      })
      .check(
        z.superRefine((b, ctx) => {
          if (b.flag !== 1 && b.flag !== 2) return;
          b.userList.forEach((u, i) => {
            for (const field of ['role', 'enable'] as const)
              if (u[field] === undefined) ctx.addIssue({ code: 'custom', message: 'is required to add or modify a user', path: ['userList', i, field], input: u });
          });
        }),
      ),
    z.transform((b) => ({
      ...b,
      userList: b.userList.map(({ role, enable: enabled, ...u }) => ({ ...u, role: role ?? 'user', enable: enabled ?? false })),
    })),
  ),
  // V1 sends the user list as JSON text (spec 3.9.6)
  fromV1(body) {
    const list = jsonText(body, 'userList');
    return 'error' in list ? list.error : { ...body, userList: list.value };
  },
  run,
});
