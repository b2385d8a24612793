/**
 * The joint-operation store (TenancyRepository): Kit sync records, login states and sessions, in the
 * service's one table (layout: tenancyEntities.ts).
 *
 * Every sync record is written with the condition "absent, or stored syncedAt older than mine" — last
 * writer by the marketplace's own timeStamp wins, whatever order the calls arrive in. Records go out as
 * TransactWriteItems of up to 100: the first also carries the call's nonce and audit record (so a
 * replayed call is refused before it writes anything), the rest follow in parallel. A transaction
 * cancelled because some records are stale is retried without them (the cancellation reasons say
 * which); one that lost a race (TransactionConflict) is retried as it was. No record is read first.
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import pMap from 'p-map';
import type { FormattedItem } from 'dynamodb-toolbox/entity';
import { DeleteItemCommand } from 'dynamodb-toolbox/entity/actions/delete';
import { GetItemCommand } from 'dynamodb-toolbox/entity/actions/get';
import { PutItemCommand } from 'dynamodb-toolbox/entity/actions/put';
import { ConditionCheck } from 'dynamodb-toolbox/entity/actions/transactCheck';
import { PutTransaction } from 'dynamodb-toolbox/entity/actions/transactPut';
import { execute as executeTransactWrite } from 'dynamodb-toolbox/entity/actions/transactWrite';
import { QueryCommand } from 'dynamodb-toolbox/table/actions/query';
import type { Sealer } from '#shared/crypto/sealer';
import { NonceReplayError, type CallReceipt } from '#shared/domain/repository';
import type { Application, AuthorizedUser, Department, Role, SyncRecord, Tenant, UserStatus } from '#shared/domain/tenancy';
import {
  SnapshotTooLargeError,
  type LoginState,
  type Session,
  type SnapshotDepartment,
  type SyncOptions,
  type SyncOutcome,
  type TenancyRepository,
} from '#shared/domain/tenancyRepository';
import { createEntities, createTable, type Entities } from './entities.ts';
import { receiptItems, type ReceiptTtls } from './receipts.ts';
import { createTenancyEntities, orgsPk, PART_BYTES, SHARDS, usersPk, type TenancyEntities } from './tenancyEntities.ts';

export interface TenancyStoreOptions {
  documentClient: DynamoDBDocumentClient;
  tableName: string;
  sealer: Sealer;
  auditTtlDays?: number;
  nonceTtlSeconds?: number;
  /** transactions of one call in flight at once (default 8) */
  concurrency?: number;
}

/** DynamoDB's limit of actions per TransactWriteItems. */
export const MAX_TRANSACTION_ITEMS = 100;
/** Compressed (base64) snapshot bytes one transaction may carry, below DynamoDB's 4 MB per transaction. */
export const MAX_SNAPSHOT_BYTES = 3_500_000;
/** Attempts per batch when concurrent calls touch the same records (TransactionConflict). */
const MAX_ATTEMPTS = 6;

type WriteItem = Parameters<typeof executeTransactWrite>[number];
/**
 * A record's write; `counted` = false for the secondary writes a record brings along (tenant code
 * index, snapshot parts). Writes of one `group` stand or fall together: one stale drops them all.
 */
type RecordWrite = { item: WriteItem; counted: boolean; group?: number };
type Reason = { Code?: string };
const countOf = (writes: readonly RecordWrite[]) => writes.filter((w) => w.counted).length;

const pause = (attempt: number) => new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 25 * attempt));
/** "absent, or stored syncedAt older than mine" */
const newer = (at: string) => ({ or: [{ attr: 'syncedAt' as const, exists: false }, { attr: 'syncedAt' as const, lt: at }] });

export class TenancyStore implements TenancyRepository {
  private readonly e: TenancyEntities;
  private readonly receipts: Pick<Entities, 'NonceEntity' | 'CallEntity'>;
  private readonly ttl: ReceiptTtls;
  private readonly sealer: Sealer;
  private readonly concurrency: number;

  constructor(options: TenancyStoreOptions) {
    const table = createTable(options.documentClient, options.tableName);
    this.e = createTenancyEntities(table);
    this.receipts = createEntities(table);
    this.sealer = options.sealer;
    this.concurrency = options.concurrency ?? 8;
    this.ttl = { auditTtlSeconds: (options.auditTtlDays ?? 90) * 86_400, nonceTtlSeconds: options.nonceTtlSeconds ?? 600 };
  }

  // ---------------------------------------------------------------- sync writes

  async applySync(receipt: CallReceipt, records: readonly SyncRecord[], options: SyncOptions = {}): Promise<SyncOutcome> {
    const gate = options.orgSnapshotGate;
    const gateItem = gate
      ? [
          this.e.OrgSnapshotEntity.build(ConditionCheck)
            .key({ tenantId: gate.tenantId })
            .condition({ or: [{ attr: 'at', exists: false }, { attr: 'at', lt: gate.at }] }),
        ]
      : [];
    const writes = records.flatMap((r) => this.recordWrites(r));
    const receiptWrites = receiptItems(this.receipts, receipt, this.ttl);
    const firstRoom = MAX_TRANSACTION_ITEMS - receiptWrites.length - gateItem.length;
    const outcome: SyncOutcome = { written: 0, stale: 0 };

    // the first batch carries the receipt: a replayed nonce stops the call before any record is written
    const first = await this.commit(writes.slice(0, firstRoom), { receipt: receiptWrites, gate: gateItem });
    outcome.written += first.written;
    outcome.stale += first.stale;
    if (first.gated) return { written: 0, stale: records.length };
    const rest: RecordWrite[][] = [];
    for (let i = firstRoom; i < writes.length; i += MAX_TRANSACTION_ITEMS - gateItem.length)
      rest.push(writes.slice(i, i + MAX_TRANSACTION_ITEMS - gateItem.length));
    const results = await pMap(rest, (batch) => this.commit(batch, { receipt: [], gate: gateItem }), { concurrency: this.concurrency });
    for (const r of results) {
      outcome.written += r.written;
      // a snapshot that overtook this call half-way leaves the rest out of date
      outcome.stale += r.gated ? r.attempted : r.stale;
    }
    return outcome;
  }

  /**
   * One batch: [receipt…, gate?, records…]. Cancelled for stale records → again without them; for a
   * conflict → again as it was; for the nonce → NonceReplayError; for the gate → nothing written.
   */
  private async commit(
    records: RecordWrite[],
    head: { receipt: WriteItem[]; gate: WriteItem[] },
  ): Promise<{ written: number; stale: number; gated: boolean; attempted: number }> {
    const attempted = countOf(records);
    let pending = records;
    let stale = 0;
    for (let attempt = 1; ; attempt++) {
      const items = [...head.receipt, ...head.gate, ...pending.map((w) => w.item)];
      if (items.length === 0) return { written: 0, stale, gated: false, attempted };
      try {
        await executeTransactWrite(...(items as Parameters<typeof executeTransactWrite>));
        return { written: countOf(pending), stale, gated: false, attempted };
      } catch (error) {
        if (!(error instanceof TransactionCanceledException)) throw error;
        const reasons: Reason[] = error.CancellationReasons ?? [];
        const failed = (r?: Reason) => r?.Code === 'ConditionalCheckFailed';
        const conflict = (r?: Reason) => r?.Code === 'TransactionConflict';
        const nonceAt = head.receipt.length === 2 ? 0 : -1;
        if (nonceAt === 0 && (failed(reasons[0]) || conflict(reasons[0]))) throw new NonceReplayError();
        const gateAt = head.receipt.length;
        if (head.gate.length && failed(reasons[gateAt]))
          return head.receipt.length ? await this.receiptOnly(head.receipt, attempted) : { written: 0, stale: 0, gated: true, attempted };
        const offset = head.receipt.length + head.gate.length;
        const recordReasons = reasons.slice(offset);
        const staleNow = pending.filter((_, i) => failed(recordReasons[i]));
        const anyConflict = reasons.some(conflict);
        if (staleNow.length === 0 && !anyConflict) throw error;
        if (attempt >= MAX_ATTEMPTS) throw error;
        stale += countOf(staleNow);
        const staleGroups = new Set(staleNow.map((w) => w.group).filter((g) => g !== undefined));
        pending = pending.filter((w, i) => !failed(recordReasons[i]) && !(w.group !== undefined && staleGroups.has(w.group)));
        if (anyConflict) await pause(attempt);
      }
    }
  }

  /** The gate refused the first batch: the call is out of date, but its receipt is still recorded. */
  private async receiptOnly(receipt: WriteItem[], attempted: number): Promise<{ written: number; stale: number; gated: boolean; attempted: number }> {
    await this.commit([], { receipt, gate: [] });
    return { written: 0, stale: 0, gated: true, attempted };
  }

  private recordWrites(r: SyncRecord): RecordWrite[] {
    const condition = { condition: newer(r.record.syncedAt) };
    if (r.kind === 'tenant') {
      const { tenantCode, tenantId, status, syncedAt } = r.record;
      return [
        { item: this.e.TenantEntity.build(PutTransaction).item(r.record).options(condition), counted: true },
        // login finds a tenant by its code; the code record follows the same ordering rule
        {
          item: this.e.TenantCodeEntity.build(PutTransaction).item({ tenantCode, tenantId, status, syncedAt }).options(condition),
          counted: false,
        },
      ];
    }
    return [{ item: this.recordWrite(r), counted: true }];
  }

  private recordWrite(r: Exclude<SyncRecord, { kind: 'tenant' }>): WriteItem {
    const condition = { condition: newer(r.record.syncedAt) };
    switch (r.kind) {
      case 'application': {
        const { clientSecret, ...rest } = r.record;
        return this.e.ApplicationEntity.build(PutTransaction)
          .item({ ...rest, clientSecretSealed: clientSecret === undefined ? undefined : this.sealer.seal(clientSecret) })
          .options(condition);
      }
      case 'user': {
        const { mobile, email, ...rest } = r.record;
        return this.e.TenantUserEntity.build(PutTransaction)
          .item({
            ...rest,
            mobileSealed: mobile ? this.sealer.seal(mobile) : undefined,
            emailSealed: email ? this.sealer.seal(email) : undefined,
          })
          .options(condition);
      }
      case 'department':
        return this.e.DepartmentEntity.build(PutTransaction).item(r.record).options(condition);
    }
  }

  async putOrgSnapshot(receipt: CallReceipt, tenantId: string, at: string, departments: readonly SnapshotDepartment[]): Promise<boolean> {
    const rows = departments.map((d) => (d.parentCode ? [d.orgCode, d.orgName, d.parentCode] : [d.orgCode, d.orgName]));
    const packed = gzipSync(Buffer.from(JSON.stringify(rows), 'utf8')).toString('base64');
    const parts: string[] = [];
    for (let i = 0; i < packed.length || i === 0; i += PART_BYTES) parts.push(packed.slice(i, i + PART_BYTES));
    const receiptWrites = receiptItems(this.receipts, receipt, this.ttl);
    // one transaction carries at most 4 MB: the receipt and keys need little of it
    if (packed.length > MAX_SNAPSHOT_BYTES || parts.length + receiptWrites.length > MAX_TRANSACTION_ITEMS)
      throw new SnapshotTooLargeError(`the department list is ${Math.round(packed.length / 1024)} KB compressed`);
    const header = this.e.OrgSnapshotEntity.build(PutTransaction)
      .item({ tenantId, at, data: parts[0]!, parts: parts.length })
      // an equal time is the same call again (its first attempt may have failed half-way: rewrite)
      .options({ condition: { or: [{ attr: 'at', exists: false }, { attr: 'at', lte: at }] } });
    const rest = parts.slice(1).map((data, i) => this.e.OrgSnapshotPartEntity.build(PutTransaction).item({ tenantId, at, part: i + 1, data }));
    // a newer snapshot stored: the header's condition fails and the batch is committed again without
    // the snapshot and its parts (one group): only the receipt
    const outcome = await this.commit(
      [{ item: header, counted: true, group: 0 }, ...rest.map((item) => ({ item, counted: false, group: 0 }))],
      { receipt: receiptWrites, gate: [] },
    );
    return outcome.written > 0;
  }

  // ---------------------------------------------------------------- reads

  async tenant(tenantId: string): Promise<Tenant | undefined> {
    const { Item } = await this.e.TenantEntity.build(GetItemCommand).key({ tenantId }).options({ consistent: true }).send();
    return Item && this.tenantOf(Item);
  }

  async tenantByCode(tenantCode: string): Promise<Tenant | undefined> {
    const { Item } = await this.e.TenantCodeEntity.build(GetItemCommand).key({ tenantCode }).options({ consistent: true }).send();
    if (!Item) return undefined;
    const tenant = await this.tenant(Item.tenantId);
    return tenant?.tenantCode === tenantCode ? tenant : undefined;
  }

  async application(tenantId: string, appId: string): Promise<Application | undefined> {
    const { Item } = await this.e.ApplicationEntity.build(GetItemCommand).key({ tenantId, appId }).options({ consistent: true }).send();
    return Item && this.applicationOf(Item);
  }

  async applications(tenantId: string): Promise<Application[]> {
    const { Items = [] } = await this.e.ApplicationEntity.table
      .build(QueryCommand)
      .entities(this.e.ApplicationEntity)
      .query({ partition: `TENANT#${tenantId}`, range: { beginsWith: 'APP#' } })
      .options({ consistent: true, maxPages: Infinity })
      .send();
    return Items.map((item) => this.applicationOf(item));
  }

  async user(tenantId: string, appId: string, userName: string): Promise<AuthorizedUser | undefined> {
    const { Item } = await this.e.TenantUserEntity.build(GetItemCommand)
      .key({ tenantId, appId, userName })
      .options({ consistent: true })
      .send();
    return Item && this.userOf(Item);
  }

  async userCounts(tenantId: string, appId: string) {
    const counts = { active: 0, disabled: 0, revoked: 0, deleted: 0 };
    const shards = await pMap(
      Array.from({ length: SHARDS }, (_, s) => s),
      async (shard) => {
        const { Items = [] } = await this.e.TenantUserEntity.table
          .build(QueryCommand)
          .entities(this.e.TenantUserEntity)
          .query({ partition: usersPk(tenantId, appId, shard) })
          .options({ attributes: ['status', 'enabled'], maxPages: Infinity })
          .send();
        return Items;
      },
    );
    for (const { status, enabled } of shards.flat()) {
      if (status === 'active') counts[enabled ? 'active' : 'disabled']++;
      else counts[status === 'revoked' ? 'revoked' : 'deleted']++;
    }
    return counts;
  }

  async departments(tenantId: string): Promise<Department[]> {
    const [snapshot, increments] = await Promise.all([
      this.orgSnapshot(tenantId),
      pMap(
        Array.from({ length: SHARDS }, (_, s) => s),
        async (shard) => {
          const { Items = [] } = await this.e.DepartmentEntity.table
            .build(QueryCommand)
            .entities(this.e.DepartmentEntity)
            .query({ partition: orgsPk(tenantId, shard) })
            .options({ consistent: true, maxPages: Infinity })
            .send();
          return Items.map((item) => this.departmentOf(item));
        },
      ),
    ]);
    const merged = new Map<string, Department>();
    if (snapshot)
      for (const [orgCode, orgName, parentCode] of snapshot.rows)
        merged.set(orgCode, { tenantId, orgCode, orgName, ...(parentCode ? { parentCode } : {}), status: 'active', syncedAt: snapshot.at });
    // an incremental change counts when it is newer than the snapshot (older ones were gated out
    // when they arrived, or are already part of it)
    for (const d of increments.flat()) if (!snapshot || d.syncedAt > snapshot.at) merged.set(d.orgCode, d);
    return [...merged.values()];
  }

  /** The last full department sync, unpacked; undefined before the first. */
  private async orgSnapshot(tenantId: string): Promise<{ at: string; rows: [string, string, string?][] } | undefined> {
    const { Item } = await this.e.OrgSnapshotEntity.build(GetItemCommand).key({ tenantId }).options({ consistent: true }).send();
    if (!Item) return undefined;
    const rest = await Promise.all(
      Array.from({ length: Item.parts - 1 }, async (_, i) => {
        const { Item: part } = await this.e.OrgSnapshotPartEntity.build(GetItemCommand)
          .key({ tenantId, at: Item.at, part: i + 1 })
          .options({ consistent: true })
          .send();
        if (!part) throw new Error('department snapshot part missing');
        return part.data;
      }),
    );
    const rows = JSON.parse(gunzipSync(Buffer.from(Item.data + rest.join(''), 'base64')).toString('utf8')) as [string, string, string?][];
    return { at: Item.at, rows };
  }

  // ---------------------------------------------------------------- login

  async putLoginState(state: LoginState): Promise<void> {
    await this.e.LoginStateEntity.build(PutItemCommand).item(state).send();
  }

  async takeLoginState(stateHash: string, nowSeconds: number): Promise<LoginState | undefined> {
    try {
      const { Attributes } = await this.e.LoginStateEntity.build(DeleteItemCommand)
        .key({ stateHash })
        .options({ condition: { attr: 'stateHash', exists: true }, returnValues: 'ALL_OLD' })
        .send();
      if (!Attributes || Attributes.expiresAt <= nowSeconds) return undefined;
      const { stateHash: hash, browserHash, tenantId, appId, returnTo, expiresAt } = Attributes;
      return { stateHash: hash, browserHash, tenantId, appId, returnTo, expiresAt };
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return undefined;
      throw error;
    }
  }

  async putSession(session: Session): Promise<void> {
    await this.e.SessionEntity.build(PutItemCommand).item(this.sessionItem(session)).send();
  }

  async session(sessionHash: string, nowSeconds: number): Promise<Session | undefined> {
    const { Item } = await this.e.SessionEntity.build(GetItemCommand).key({ sessionHash }).options({ consistent: true }).send();
    if (!Item || Item.expiresAt <= nowSeconds) return undefined; // TTL deletes lazily
    const { accessTokenSealed, refreshTokenSealed, ...rest } = Item;
    return {
      ...rest,
      accessToken: this.sealer.open(accessTokenSealed),
      ...(refreshTokenSealed ? { refreshToken: this.sealer.open(refreshTokenSealed) } : {}),
    };
  }

  async replaceSession(session: Session, expectedVersion: number): Promise<boolean> {
    try {
      await this.e.SessionEntity.build(PutItemCommand)
        .item(this.sessionItem(session))
        .options({ condition: { attr: 'version', eq: expectedVersion } })
        .send();
      return true;
    } catch (error) {
      if ((error as Error).name === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async deleteSession(sessionHash: string): Promise<void> {
    await this.e.SessionEntity.build(DeleteItemCommand).key({ sessionHash }).send();
  }

  // ---------------------------------------------------------------- mapping

  private sessionItem(session: Session) {
    const { accessToken, refreshToken, ...rest } = session;
    return {
      ...rest,
      accessTokenSealed: this.sealer.seal(accessToken),
      refreshTokenSealed: refreshToken ? this.sealer.seal(refreshToken) : undefined,
    };
  }

  private tenantOf(item: FormattedItem<TenancyEntities['TenantEntity']>): Tenant {
    return { ...item, status: item.status === 'active' ? 'active' : 'deleted' };
  }

  private applicationOf(item: FormattedItem<TenancyEntities['ApplicationEntity']>): Application {
    const { clientSecretSealed, ...rest } = item;
    return {
      ...rest,
      status: rest.status === 'active' ? 'active' : 'deleted',
      ...(clientSecretSealed ? { clientSecret: this.sealer.open(clientSecretSealed) } : {}),
    };
  }

  private userOf(item: FormattedItem<TenancyEntities['TenantUserEntity']>): AuthorizedUser {
    const { mobileSealed, emailSealed, ...rest } = item;
    return {
      ...rest,
      role: rest.role as Role,
      status: rest.status as UserStatus,
      ...(mobileSealed ? { mobile: this.sealer.open(mobileSealed) } : {}),
      ...(emailSealed ? { email: this.sealer.open(emailSealed) } : {}),
    };
  }

  private departmentOf(item: FormattedItem<TenancyEntities['DepartmentEntity']>): Department {
    return { ...item, status: item.status === 'active' ? 'active' : 'deleted' };
  }
}
