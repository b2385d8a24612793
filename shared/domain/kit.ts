/**
 * The joint-operation Kit sync calls (spec 3.9), one domain for the V2 and the V1 wire formats: each
 * turns a parsed body into the records it writes (domain/tenancy.ts) and writes them through the
 * TenancyRepository, newest-wins. A repeated add or delete, or a call older than the stored data,
 * writes nothing and answers success (spec 3.9 idempotency); deletes never look at instances.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { ResultCode } from '#shared/protocol/resultCodes';
import type { Reply } from './call.ts';
import type { CallReceipt } from './repository.ts';
import {
  assertTree,
  DepartmentTreeError,
  statusOf,
  SyncFlag,
  wouldCycle,
  type AuthorizedUser,
  type SyncRecord,
} from './tenancy.ts';
import { SnapshotTooLargeError, type SyncOutcome, type TenancyRepository } from './tenancyRepository.ts';

export type KitSyncName = 'tenantSync' | 'applicationSync' | 'authSync' | 'singleOrgSync' | 'allOrgSync';

export interface KitServices {
  tenancy: TenancyRepository;
  logger: Logger;
  /**
   * Decrypts an application-sync clientSecret with the merchant's private key (spec 2.6); undefined when
   * no key is configured. Throws when the ciphertext does not decrypt.
   */
  openClientSecret?: (ciphertext: string) => string;
}

/** One verified Kit call. */
export interface KitCall {
  name: KitSyncName;
  version: 'v1' | 'v2';
  /** x-nonce (V2); the authToken itself for V1, which has no nonce */
  nonce: string;
  receivedAt: Date;
  testFlag: boolean;
  /** how long the nonce must be remembered: as long as the same request would still be accepted */
  nonceTtlSeconds?: number;
}

interface Common {
  instanceId: string;
  tenantId: string;
  /** normalised 17-digit UTC+8 stamp: orders the calls */
  timeStamp: string;
}

export interface TenantSyncBody extends Common {
  orderId: string;
  tenantCode: string;
  name: string;
  domainName: string;
  flag: SyncFlag;
}

export interface ApplicationSyncBody extends Common {
  appId: string;
  clientId: string;
  clientSecret: string;
  flag: SyncFlag;
}

/** A user of authSync's `userList` (spec 3.9.3): the stored user's own fields, `enable` as sent. */
export type SyncedUser = Omit<AuthorizedUser, 'tenantId' | 'appId' | 'enabled' | 'currentSyncTime' | 'status' | 'syncedAt'> & { enable: boolean };

export interface AuthSyncBody extends Common {
  appId: string;
  userList: SyncedUser[];
  currentSyncTime: string;
  flag: SyncFlag;
}

export interface SingleOrgSyncBody extends Common {
  orgCode: string;
  orgName: string;
  parentCode?: string;
  flag: SyncFlag;
}

export interface AllOrgSyncBody extends Common {
  orgInfoList: { orgCode: string; orgName: string; parentCode?: string }[];
}

const ok = (outcome: SyncOutcome): Reply => ({
  resultCode: ResultCode.SUCCESS,
  resultMsg: outcome.stale && !outcome.written ? 'Success (already up to date)' : 'Success',
});
const invalid = (resultMsg: string): Reply => ({ resultCode: ResultCode.INVALID_PARAMETER, resultMsg });

function receiptOf(call: KitCall, body: Common, extra: Pick<CallReceipt, 'orderId'> = {}): CallReceipt {
  return {
    nonce: call.nonce,
    receivedAt: call.receivedAt,
    activity: call.version === 'v1' ? `${call.name} (V1)` : call.name,
    testFlag: call.testFlag,
    resultCode: ResultCode.SUCCESS,
    resultMsg: 'Success',
    tenantId: body.tenantId,
    ...(body.instanceId ? { instanceId: body.instanceId } : {}),
    ...(call.nonceTtlSeconds ? { nonceTtlSeconds: call.nonceTtlSeconds } : {}),
    ...extra,
  };
}

function log(kit: KitServices, call: KitCall, body: Common, outcome: SyncOutcome, extra: Record<string, unknown> = {}) {
  kit.logger.info('kit sync applied', { sync: call.name, version: call.version, tenantId: body.tenantId, ...outcome, ...extra });
}

/** The audit record of a Kit call hangs under its tenant, not its instance (the instance may not exist). */
const tenantReceipt = (call: KitCall, body: Common, extra: Pick<CallReceipt, 'orderId'> = {}) => {
  const { instanceId: _instanceId, ...receipt } = receiptOf(call, body, extra);
  return receipt;
};

export async function tenantSync(kit: KitServices, call: KitCall, body: TenantSyncBody): Promise<Reply> {
  const records: SyncRecord[] = [
    {
      kind: 'tenant',
      record: {
        tenantId: body.tenantId,
        tenantCode: body.tenantCode,
        name: body.name,
        domainName: body.domainName,
        ...(body.instanceId ? { instanceId: body.instanceId } : {}),
        ...(body.orderId ? { orderId: body.orderId } : {}),
        testFlag: call.testFlag,
        status: statusOf(body.flag) === 'active' ? 'active' : 'deleted',
        syncedAt: body.timeStamp,
      },
    },
  ];
  const outcome = await kit.tenancy.applySync(tenantReceipt(call, body, body.orderId ? { orderId: body.orderId } : {}), records);
  log(kit, call, body, outcome, { flag: body.flag });
  return ok(outcome);
}

export async function applicationSync(kit: KitServices, call: KitCall, body: ApplicationSyncBody): Promise<Reply> {
  const deleting = body.flag === SyncFlag.DELETE;
  let clientSecret: string | undefined;
  if (!deleting) {
    if (!kit.openClientSecret) {
      kit.logger.error('applicationSync: no merchant private key configured (KOOGALLERY_KIT_PRIVATE_KEY)');
      return { resultCode: ResultCode.INTERNAL_ERROR, resultMsg: 'the merchant has no private key configured for clientSecret' };
    }
    try {
      clientSecret = kit.openClientSecret(body.clientSecret);
    } catch (error) {
      // the reason only (key / ciphertext / decrypt): never the ciphertext or the key
      kit.logger.error('applicationSync: clientSecret does not decrypt', { reason: (error as { reason?: string }).reason });
      return invalid('clientSecret: cannot be decrypted with the merchant private key');
    }
  }
  const outcome = await kit.tenancy.applySync(tenantReceipt(call, body), [
    {
      kind: 'application',
      record: {
        tenantId: body.tenantId,
        appId: body.appId,
        clientId: body.clientId,
        ...(clientSecret === undefined ? {} : { clientSecret }),
        ...(body.instanceId ? { instanceId: body.instanceId } : {}),
        testFlag: call.testFlag,
        status: deleting ? 'deleted' : 'active',
        syncedAt: body.timeStamp,
      },
    },
  ]);
  log(kit, call, body, outcome, { flag: body.flag });
  return ok(outcome);
}

export async function authSync(kit: KitServices, call: KitCall, body: AuthSyncBody): Promise<Reply> {
  const seen = new Map<string, number>();
  for (const [i, user] of body.userList.entries()) {
    const first = seen.get(user.userName);
    if (first !== undefined) return invalid(`userList[${i}].userName: ${user.userName} also at userList[${first}]`);
    seen.set(user.userName, i);
  }
  const status = statusOf(body.flag);
  const records: SyncRecord[] = body.userList.map((u) => {
    const { enable, ...fields } = u;
    const record: AuthorizedUser = {
      ...fields,
      tenantId: body.tenantId,
      appId: body.appId,
      enabled: enable,
      currentSyncTime: body.currentSyncTime,
      status,
      syncedAt: body.timeStamp,
    };
    return { kind: 'user', record };
  });
  const outcome = await kit.tenancy.applySync(tenantReceipt(call, body), records);
  log(kit, call, body, outcome, { flag: body.flag, users: records.length });
  return ok(outcome);
}

export async function singleOrgSync(kit: KitServices, call: KitCall, body: SingleOrgSyncBody): Promise<Reply> {
  const deleting = body.flag === SyncFlag.DELETE;
  const parentCode = body.parentCode || undefined;
  if (!deleting && parentCode) {
    if (parentCode === body.orgCode) return invalid(`parentCode: ${parentCode} is the department itself`);
    // the stored tree (snapshot + increments): a move under its own descendant would make a loop
    const parents = new Map((await kit.tenancy.departments(body.tenantId)).filter((d) => d.status === 'active').map((d) => [d.orgCode, d.parentCode]));
    if (wouldCycle(body.orgCode, parentCode, (code) => parents.get(code)))
      return invalid(`parentCode: ${parentCode} is below ${body.orgCode}; the move would make a loop`);
  }
  const outcome = await kit.tenancy.applySync(
    tenantReceipt(call, body),
    [
      {
        kind: 'department',
        record: {
          tenantId: body.tenantId,
          orgCode: body.orgCode,
          orgName: body.orgName,
          ...(parentCode ? { parentCode } : {}),
          status: deleting ? 'deleted' : 'active',
          syncedAt: body.timeStamp,
        },
      },
    ],
    { orgSnapshotGate: { tenantId: body.tenantId, at: body.timeStamp } },
  );
  log(kit, call, body, outcome, { flag: body.flag });
  return ok(outcome);
}

export async function allOrgSync(kit: KitServices, call: KitCall, body: AllOrgSyncBody): Promise<Reply> {
  try {
    assertTree(body.orgInfoList);
  } catch (error) {
    if (error instanceof DepartmentTreeError) return invalid(error.message);
    throw error;
  }
  let stored: boolean;
  try {
    stored = await kit.tenancy.putOrgSnapshot(tenantReceipt(call, body), body.tenantId, body.timeStamp, body.orgInfoList);
  } catch (error) {
    if (error instanceof SnapshotTooLargeError) return invalid(`orgInfoList: too large to store (${error.message})`);
    throw error;
  }
  const outcome = stored ? { written: body.orgInfoList.length, stale: 0 } : { written: 0, stale: body.orgInfoList.length };
  log(kit, call, body, outcome, { departments: body.orgInfoList.length });
  return ok(outcome);
}
