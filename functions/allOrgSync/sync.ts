import * as z from '#shared/zod';
import { allOrgSync as run } from '#shared/domain/kit';
import { defineKitSync, jsonText, kitFields as f } from '#shared/http/kitRoute';

/** Departments one full sync may carry (a 5 MB body holds about 40 000). */
export const MAX_DEPARTMENTS = 20_000;

const OrgInfo = z.object({ orgCode: f.id(), orgName: f.id(128), parentCode: z.optional(f.text(64)) });

/**
 * Department full sync (spec 3.9.5): the complete tree, taken as an authoritative snapshot — new and
 * changed departments written, missing ones marked deleted. A list that is not a tree is refused whole.
 */
export const allOrgSync = defineKitSync({
  name: 'allOrgSync',
  schema: z.object({
    instanceId: f.optionalId(),
    tenantId: f.id(),
    orgInfoList: z.array(OrgInfo).check(z.maxLength(MAX_DEPARTMENTS, `must hold at most ${MAX_DEPARTMENTS} departments`)),
    testFlag: f.testFlag,
    timeStamp: f.timeStamp(),
  }),
  // V1: field `orgInfo`, JSON text whose items name the department `name` (spec 3.9.5)
  fromV1(body) {
    const list = jsonText(body, 'orgInfo');
    if ('error' in list) return list.error;
    if (!Array.isArray(list.value)) return 'orgInfo: must be a JSON array';
    const { orgInfo: _orgInfo, ...rest } = body;
    return {
      ...rest,
      orgInfoList: list.value.map((item: unknown) =>
        item && typeof item === 'object' && !Array.isArray(item) && 'name' in item && !('orgName' in item)
          ? { ...item, orgName: (item as { name: unknown }).name }
          : item,
      ),
    };
  },
  run,
});
