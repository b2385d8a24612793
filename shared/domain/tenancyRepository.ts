/**
 * The storage port of the joint-operation side (Kit syncs, login): shared/storage/tenancy.ts implements
 * it over the one table.
 */
import type { CallReceipt } from './repository.ts';
import type { Application, AuthorizedUser, Department, SyncRecord, Tenant } from './tenancy.ts';

export type SnapshotDepartment = Pick<Department, 'orgCode' | 'orgName' | 'parentCode'>;

/** A department snapshot that, compressed, is still beyond what one transaction can carry (4 MB). */
export class SnapshotTooLargeError extends Error {
  override readonly name = 'SnapshotTooLargeError';
}

export interface SyncOutcome {
  /** records written (newer than the stored ones) */
  written: number;
  /** records left alone because the stored one is as new or newer */
  stale: number;
}

export interface SyncOptions {
  /**
   * Incremental department calls: write nothing when the tenant's last full department sync is as new
   * or newer than `at` (that snapshot already holds the state this call describes).
   */
  orgSnapshotGate?: { tenantId: string; at: string };
}

/** A login under way: what the callback needs once the identity service sends the browser back. */
export interface LoginState {
  stateHash: string;
  /** hash of the browser-binding cookie set with the redirect */
  browserHash: string;
  tenantId: string;
  appId: string;
  returnTo: string;
  /** epoch seconds */
  expiresAt: number;
}

export interface Session {
  sessionHash: string;
  tenantId: string;
  appId: string;
  userName: string;
  role: string;
  accessToken: string;
  refreshToken?: string;
  /** epoch seconds */
  accessExpiresAt: number;
  /** epoch seconds */
  createdAt: number;
  /** epoch seconds: the session ends here whatever happens */
  expiresAt: number;
  /** epoch ms until which one request holds the right to refresh the token */
  refreshClaimedUntil?: number;
  version: number;
}

export interface TenancyRepository {
  /**
   * Writes every record that is newer than the stored one (conditional writes, batched into
   * transactions of up to 100) and the call's receipt (nonce + audit) with the first batch. Throws
   * NonceReplayError (nothing written) when the nonce was used.
   */
  applySync(receipt: CallReceipt, records: readonly SyncRecord[], options?: SyncOptions): Promise<SyncOutcome>;
  /**
   * Stores a full department sync (time `at`) as the tenant's snapshot, with the call's receipt, in one
   * transaction; false (only the receipt written) when a newer snapshot is stored. Throws
   * NonceReplayError when the nonce was used.
   */
  putOrgSnapshot(receipt: CallReceipt, tenantId: string, at: string, departments: readonly SnapshotDepartment[]): Promise<boolean>;
  tenant(tenantId: string): Promise<Tenant | undefined>;
  tenantByCode(tenantCode: string): Promise<Tenant | undefined>;
  application(tenantId: string, appId: string): Promise<Application | undefined>;
  applications(tenantId: string): Promise<Application[]>;
  user(tenantId: string, appId: string, userName: string): Promise<AuthorizedUser | undefined>;
  /** live / disabled / revoked / deleted users of one application */
  userCounts(tenantId: string, appId: string): Promise<Record<'active' | 'disabled' | 'revoked' | 'deleted', number>>;
  /**
   * The tenant's departments: its last snapshot with every incremental change newer than it on top
   * (deleted ones included, as tombstones).
   */
  departments(tenantId: string): Promise<Department[]>;

  putLoginState(state: LoginState): Promise<void>;
  /** Deletes and returns the state (single use): a second take of the same state finds nothing. */
  takeLoginState(stateHash: string, nowSeconds: number): Promise<LoginState | undefined>;
  putSession(session: Session): Promise<void>;
  session(sessionHash: string, nowSeconds: number): Promise<Session | undefined>;
  /** Replaces the session if its version is still `expectedVersion`; false when another request changed it first. */
  replaceSession(session: Session, expectedVersion: number): Promise<boolean>;
  deleteSession(sessionHash: string): Promise<void>;
}
