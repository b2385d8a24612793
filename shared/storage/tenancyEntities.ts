/**
 * Joint-operation entities, in the same table (schema first, dynamodb-toolbox). Key layout:
 *
 * | entity       | pk                                        | sk                 | notes                                   |
 * |--------------|-------------------------------------------|--------------------|-----------------------------------------|
 * | Tenant       | TENANT#<tenantId>                         | TENANT             | syncedAt orders writes (domain/tenancy) |
 * | TenantCode   | TENANTCODE#<tenantCode>                   | TENANT             | tenantCode → tenantId (login)           |
 * | OrgSnapshot  | TENANT#<tenantId>                         | ORGSNAPSHOT        | the last full department sync, gzipped  |
 * | OrgSnapPart  | TENANT#<tenantId>                         | ORGSNAPSHOT#<at>#<n>| its further parts when large            |
 * | Application  | TENANT#<tenantId>                         | APP#<appId>        | client secret sealed                    |
 * | TenantUser   | TENANT#<tenantId>#USERS#<appId>#<shard>   | USER#<userName>    | phone, e-mail sealed                    |
 * | Department   | TENANT#<tenantId>#ORGS#<shard>            | ORG#<orgCode>      |                                         |
 * | LoginState   | SSOSTATE#<sha256(state)>                  | STATE              | TTL; single use                         |
 * | Session      | SESSION#<sha256(session id)>              | SESSION            | TTL; tokens sealed                      |
 * | Call (audit) | TENANT#<tenantId>                         | CALL#<time>#<nonce>| see entities.ts                         |
 *
 * A full department sync is ONE record (the whole tree, gzipped; parts of at most PART_BYTES when it is
 * larger), written with the call's receipt in one transaction: thousands of departments cost one
 * write, not thousands. Incremental department calls are records of their own (Department) that
 * count only when newer than the snapshot. Users and incremental departments are spread over SHARDS
 * partitions per tenant, so a 500-user authorisation writes at most 1/SHARDS of its items to any one.
 */
import { Entity } from 'dynamodb-toolbox/entity';
import { boolean } from 'dynamodb-toolbox/schema/boolean';
import { item } from 'dynamodb-toolbox/schema/item';
import { number } from 'dynamodb-toolbox/schema/number';
import { string } from 'dynamodb-toolbox/schema/string';
import { shardOf, type ServiceTable } from './entities.ts';

/** Partitions per tenant (and application) for users and departments. */
export const SHARDS = 8;
/** Base64 characters per snapshot record (DynamoDB items hold 400 KB). */
export const PART_BYTES = 350_000;

export const tenantPk = (tenantId: string) => `TENANT#${tenantId}`;
export const usersPk = (tenantId: string, appId: string, shard: number) => `TENANT#${tenantId}#USERS#${appId}#${shard}`;
export const orgsPk = (tenantId: string, shard: number) => `TENANT#${tenantId}#ORGS#${shard}`;

const optionalString = () => string().optional();
const syncFields = { status: string(), syncedAt: string() };

export function createTenancyEntities(table: ServiceTable) {
  const TenantEntity = new Entity({
    name: 'Tenant',
    table,
    timestamps: false,
    schema: item({
      tenantId: string().key(),
      tenantCode: string(),
      name: string(),
      domainName: string(),
      instanceId: optionalString(),
      orderId: optionalString(),
      testFlag: boolean(),
      ...syncFields,
    }),
    computeKey: ({ tenantId }) => ({ pk: tenantPk(tenantId), sk: 'TENANT' }),
  });

  const TenantCodeEntity = new Entity({
    name: 'TenantCode',
    table,
    timestamps: false,
    schema: item({ tenantCode: string().key(), tenantId: string(), ...syncFields }),
    computeKey: ({ tenantCode }) => ({ pk: `TENANTCODE#${tenantCode}`, sk: 'TENANT' }),
  });

  const OrgSnapshotEntity = new Entity({
    name: 'OrgSnapshot',
    table,
    timestamps: false,
    schema: item({
      tenantId: string().key(),
      at: string(),
      /** departments (JSON array of [orgCode, orgName, parentCode]) gzipped, base64; first part */
      data: string(),
      parts: number(),
    }),
    computeKey: ({ tenantId }) => ({ pk: tenantPk(tenantId), sk: 'ORGSNAPSHOT' }),
  });

  const OrgSnapshotPartEntity = new Entity({
    name: 'OrgSnapshotPart',
    table,
    timestamps: false,
    schema: item({ tenantId: string().key(), at: string().key(), part: number().key(), data: string(), expiresAt: number().optional() }),
    computeKey: ({ tenantId, at, part }) => ({ pk: tenantPk(tenantId), sk: `ORGSNAPSHOT#${at}#${part}` }),
  });

  const ApplicationEntity = new Entity({
    name: 'Application',
    table,
    timestamps: false,
    schema: item({
      tenantId: string().key(),
      appId: string().key(),
      clientId: string(),
      clientSecretSealed: optionalString(),
      instanceId: optionalString(),
      testFlag: boolean(),
      ...syncFields,
    }),
    computeKey: ({ tenantId, appId }) => ({ pk: tenantPk(tenantId), sk: `APP#${appId}` }),
  });

  const TenantUserEntity = new Entity({
    name: 'TenantUser',
    table,
    timestamps: false,
    schema: item({
      tenantId: string().key(),
      appId: string().key(),
      userName: string().key(),
      name: string(),
      orgCode: string(),
      role: string(),
      enabled: boolean(),
      position: optionalString(),
      employeeCode: optionalString(),
      employeeType: number().optional(),
      mobileSealed: optionalString(),
      emailSealed: optionalString(),
      workPlace: optionalString(),
      entryDate: optionalString(),
      currentSyncTime: optionalString(),
      ...syncFields,
    }),
    computeKey: ({ tenantId, appId, userName }) => ({
      pk: usersPk(tenantId, appId, shardOf(userName, SHARDS)),
      sk: `USER#${userName}`,
    }),
  });

  const DepartmentEntity = new Entity({
    name: 'Department',
    table,
    timestamps: false,
    schema: item({
      tenantId: string().key(),
      orgCode: string().key(),
      orgName: string(),
      parentCode: optionalString(),
      ...syncFields,
    }),
    computeKey: ({ tenantId, orgCode }) => ({ pk: orgsPk(tenantId, shardOf(orgCode, SHARDS)), sk: `ORG#${orgCode}` }),
  });

  const LoginStateEntity = new Entity({
    name: 'LoginState',
    table,
    timestamps: false,
    schema: item({
      stateHash: string().key(),
      browserHash: string(),
      tenantId: string(),
      appId: string(),
      returnTo: string(),
      expiresAt: number(),
    }),
    computeKey: ({ stateHash }) => ({ pk: `SSOSTATE#${stateHash}`, sk: 'STATE' }),
  });

  const SessionEntity = new Entity({
    name: 'Session',
    table,
    timestamps: false,
    schema: item({
      sessionHash: string().key(),
      tenantId: string(),
      appId: string(),
      userName: string(),
      role: string(),
      accessTokenSealed: string(),
      refreshTokenSealed: optionalString(),
      accessExpiresAt: number(),
      createdAt: number(),
      refreshClaimedUntil: number().optional(),
      version: number(),
      expiresAt: number(),
    }),
    computeKey: ({ sessionHash }) => ({ pk: `SESSION#${sessionHash}`, sk: 'SESSION' }),
  });

  return {
    TenantEntity,
    TenantCodeEntity,
    OrgSnapshotEntity,
    OrgSnapshotPartEntity,
    ApplicationEntity,
    TenantUserEntity,
    DepartmentEntity,
    LoginStateEntity,
    SessionEntity,
  };
}
export type TenancyEntities = ReturnType<typeof createTenancyEntities>;
