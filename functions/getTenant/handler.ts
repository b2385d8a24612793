import { describeTenant } from '#shared/domain/tenantView';
import { createInternalHandler, pathId } from '#shared/http/internalRoute';
import { getRuntime } from '#shared/runtime';
import '#shared/runtime/joint';

/** `GET /internal/tenants/{tenantId}`: a joint-operation tenant, its applications, user counts and departments. */
export const handler = createInternalHandler(async (_services, event) => {
  const path = pathId(event, 'tenantId');
  if ('refused' in path) return path.refused;
  const view = await describeTenant((await getRuntime()).kit.tenancy, path.id);
  return view ? { status: 200, body: view } : { status: 404, body: { error: 'tenant not found', tenantId: path.id } };
});
