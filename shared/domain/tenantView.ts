/**
 * The operator's view of a joint-operation tenant (`GET /internal/tenants/{tenantId}`): the tenant, its
 * applications with user counts, and its department tree. No client secret and no user's contact data.
 */
import { departmentTree, type DepartmentNode } from './tenancy.ts';
import type { TenancyRepository } from './tenancyRepository.ts';

export interface TenantView {
  tenantId: string;
  tenantCode: string;
  name: string;
  domainName: string;
  status: string;
  instanceId?: string;
  orderId?: string;
  testFlag: boolean;
  syncedAt: string;
  applications: {
    appId: string;
    clientId: string;
    status: string;
    hasClientSecret: boolean;
    syncedAt: string;
    users: Record<'active' | 'disabled' | 'revoked' | 'deleted', number>;
  }[];
  departments: { count: number; deleted: number; tree: DepartmentNode[]; detached: string[] };
}

export async function describeTenant(tenancy: TenancyRepository, tenantId: string): Promise<TenantView | undefined> {
  const [tenant, applications, departments] = await Promise.all([
    tenancy.tenant(tenantId),
    tenancy.applications(tenantId),
    tenancy.departments(tenantId),
  ]);
  if (!tenant && applications.length === 0 && departments.length === 0) return undefined;
  const { roots, detached } = departmentTree(departments);
  const apps = await Promise.all(
    applications.map(async (a) => ({
      appId: a.appId,
      clientId: a.clientId,
      status: a.status,
      hasClientSecret: a.clientSecret !== undefined,
      syncedAt: a.syncedAt,
      users: await tenancy.userCounts(tenantId, a.appId),
    })),
  );
  return {
    tenantId,
    tenantCode: tenant?.tenantCode ?? '',
    name: tenant?.name ?? '',
    domainName: tenant?.domainName ?? '',
    // departments or applications synced before the tenant itself (calls arrive in any order)
    status: tenant?.status ?? 'not synced',
    ...(tenant?.instanceId ? { instanceId: tenant.instanceId } : {}),
    ...(tenant?.orderId ? { orderId: tenant.orderId } : {}),
    testFlag: tenant?.testFlag ?? false,
    syncedAt: tenant?.syncedAt ?? '',
    applications: apps.sort((a, b) => (a.appId < b.appId ? -1 : 1)),
    departments: {
      count: departments.filter((d) => d.status === 'active').length,
      deleted: departments.filter((d) => d.status !== 'active').length,
      tree: roots,
      detached,
    },
  };
}
