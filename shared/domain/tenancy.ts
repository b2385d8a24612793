/**
 * Joint-operation (联营) tenancy: the buyer enterprises (tenants), their bound applications, the users
 * they authorised and their department tree, as the marketplace's Kit sync calls deliver them (spec 3.9).
 *
 * Ordering rule: every record carries the Kit `timeStamp` of the call that last wrote it (`syncedAt`,
 * 17 digits, UTC+8: the string order is the time order). A call writes a record only when it is newer
 * than the stored one, so a resent, replayed or late call never overwrites newer data, and a repeated
 * add or delete changes nothing and still succeeds (spec 3.9 idempotency). Deletes leave tombstones
 * (status `deleted` / `revoked`): a late add older than the delete cannot bring a record back.
 * Spec 3.9 says deletes must not check the instance; nothing here looks at instances at all.
 *
 * A full department sync is an authoritative snapshot (spec 3.9.5): it is stored whole, as one record
 * of its time; a department it does not list is gone. Incremental changes count on top of it only when
 * newer, so a late incremental call can neither undo a snapshot nor be lost behind an older one.
 */

export type RecordStatus = 'active' | 'deleted';
/** `revoked`: the user's authorisation to the application was withdrawn (authSync flag 3) */
export type UserStatus = 'active' | 'deleted' | 'revoked';

export interface Tenant {
  tenantId: string;
  tenantCode: string;
  name: string;
  /** the tenant's identity service base URL (OAuth, spec 3.10) */
  domainName: string;
  instanceId?: string;
  orderId?: string;
  testFlag: boolean;
  status: RecordStatus;
  syncedAt: string;
}

export interface Application {
  tenantId: string;
  appId: string;
  clientId: string;
  /** decrypted OAuth client secret (sealed at rest, never logged) */
  clientSecret?: string;
  instanceId?: string;
  testFlag: boolean;
  status: RecordStatus;
  syncedAt: string;
}

export type Role = 'admin' | 'user';

export interface AuthorizedUser {
  tenantId: string;
  appId: string;
  userName: string;
  name: string;
  orgCode: string;
  role: Role;
  enabled: boolean;
  position?: string;
  employeeCode?: string;
  employeeType?: number;
  mobile?: string;
  email?: string;
  workPlace?: string;
  entryDate?: string;
  /** the call's `currentSyncTime` */
  currentSyncTime?: string;
  status: UserStatus;
  syncedAt: string;
}

export interface Department {
  tenantId: string;
  orgCode: string;
  orgName: string;
  /** empty = top level */
  parentCode?: string;
  status: RecordStatus;
  syncedAt: string;
}

/** One record a sync call wants written, if it is newer than the stored one. */
export type SyncRecord =
  | { kind: 'tenant'; record: Tenant }
  | { kind: 'application'; record: Application }
  | { kind: 'user'; record: AuthorizedUser }
  | { kind: 'department'; record: Department };

/** Kit `flag` (spec 3.9): 0 delete, 1 add, 2 modify, 3 revoke (authSync only). */
export const SyncFlag = { DELETE: 0, ADD: 1, MODIFY: 2, REVOKE: 3 } as const;
export type SyncFlag = (typeof SyncFlag)[keyof typeof SyncFlag];

/** The status a flag leaves a record in. */
export function statusOf(flag: SyncFlag): UserStatus {
  if (flag === SyncFlag.DELETE) return 'deleted';
  if (flag === SyncFlag.REVOKE) return 'revoked';
  return 'active';
}

/** Whether a user may sign in to the application: authorised, enabled, not deleted. */
export const maySignIn = (user: AuthorizedUser): boolean => user.status === 'active' && user.enabled;

/** A department list that is not a tree, said in the marketplace's terms (000002). */
export class DepartmentTreeError extends Error {
  override readonly name = 'DepartmentTreeError';
}

/**
 * Checks that a full-sync snapshot is one tree: unique codes, every parent in the snapshot, no cycle.
 * The snapshot is authoritative (spec 3.9.5), so one that is not a tree is refused whole rather than
 * stored half-right.
 */
export function assertTree(departments: readonly Pick<Department, 'orgCode' | 'parentCode'>[]): void {
  const parents = new Map<string, string | undefined>();
  departments.forEach((d, i) => {
    if (parents.has(d.orgCode)) throw new DepartmentTreeError(`orgInfoList[${i}].orgCode: ${d.orgCode} appears more than once`);
    parents.set(d.orgCode, d.parentCode || undefined);
  });
  departments.forEach((d, i) => {
    if (d.parentCode && !parents.has(d.parentCode))
      throw new DepartmentTreeError(`orgInfoList[${i}].parentCode: ${d.parentCode} is not in the list`);
  });
  // a walk up from every node ends at a root within |nodes| steps, or the parents form a cycle
  const settled = new Set<string>();
  for (const start of parents.keys()) {
    const path = new Set<string>();
    let at: string | undefined = start;
    while (at !== undefined && !settled.has(at)) {
      if (path.has(at)) throw new DepartmentTreeError(`orgInfoList: department ${at} is its own ancestor`);
      path.add(at);
      at = parents.get(at);
    }
    for (const code of path) settled.add(code);
  }
}

/**
 * Whether giving `orgCode` the parent `parentCode` would make it its own ancestor, given the stored
 * departments (incremental sync). Unknown parents are allowed: departments may arrive child first.
 */
export function wouldCycle(orgCode: string, parentCode: string | undefined, parentOf: (code: string) => string | undefined): boolean {
  const seen = new Set<string>();
  for (let at = parentCode; at; at = parentOf(at)) {
    if (at === orgCode) return true;
    if (seen.has(at)) return false; // a cycle already stored elsewhere is not this call's doing
    seen.add(at);
  }
  return false;
}

/** A department with its children, as the operator read shows the tree. */
export interface DepartmentNode {
  orgCode: string;
  orgName: string;
  children: DepartmentNode[];
}

/**
 * The live departments as a tree. A department whose parent is unknown or deleted (incremental calls
 * arrive in any order) is shown at the top and listed in `detached`, so nothing is hidden.
 */
export function departmentTree(departments: readonly Department[]): { roots: DepartmentNode[]; detached: string[] } {
  const live = departments.filter((d) => d.status === 'active');
  const nodes = new Map(live.map((d) => [d.orgCode, { orgCode: d.orgCode, orgName: d.orgName, children: [] as DepartmentNode[] }]));
  const roots: DepartmentNode[] = [];
  const detached: string[] = [];
  const byCode = (a: DepartmentNode, b: DepartmentNode) => (a.orgCode < b.orgCode ? -1 : 1);
  const parentOf = new Map(live.map((d) => [d.orgCode, d.parentCode]));
  for (const d of live) {
    const node = nodes.get(d.orgCode)!;
    const parent = d.parentCode ? nodes.get(d.parentCode) : undefined;
    // a parent chain that loops back (possible only through out-of-order increments) is cut here
    if (parent && !wouldCycle(d.orgCode, d.parentCode, (c) => parentOf.get(c))) parent.children.push(node);
    else {
      roots.push(node);
      if (d.parentCode) detached.push(d.orgCode);
    }
  }
  const sort = (list: DepartmentNode[]) => {
    list.sort(byCode);
    for (const n of list) sort(n.children);
  };
  sort(roots);
  return { roots, detached: detached.sort() };
}
