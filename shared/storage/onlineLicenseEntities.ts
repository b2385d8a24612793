/**
 * Online-License entities (spec 3.12), in the service's one table (schema first, dynamodb-toolbox). Key layout:
 *
 * | entity             | pk                       | sk                   | notes                                       |
 * |--------------------|--------------------------|----------------------|---------------------------------------------|
 * | OnlineLicense      | OLICENSE#<eventId>       | LICENSE              | timer LICENSE#<shard> / dueAt while PENDING |
 * | OnlineLicenseDevice| OLICENSES#<instanceId>   | DEVICE#<deviceKey>   | a device holding a License of the instance  |
 * | OnlineLicenseQuota | OLICENSES#<instanceId>   | QUOTA                | distinct devices, versioned                 |
 *
 * The fingerprint is sealed at rest; the License itself is stored in clear (it is a signed, public token).
 */
import { Entity } from 'dynamodb-toolbox/entity';
import { boolean } from 'dynamodb-toolbox/schema/boolean';
import { item } from 'dynamodb-toolbox/schema/item';
import { number } from 'dynamodb-toolbox/schema/number';
import { string } from 'dynamodb-toolbox/schema/string';
import { shardOf, TIMER_SHARDS, type ServiceTable } from './entities.ts';

/** The byDue partition kind of License deliveries (shared/domain/timers.ts does not list it). */
export const LICENSE_TIMER = 'LICENSE';

export const onlineLicensePk = (eventId: string) => `OLICENSE#${eventId}`;
export const instanceLicensesPk = (instanceId: string) => `OLICENSES#${instanceId}`;
/** `LICENSE#<shard>`, sharded like every other timer (entities.ts `timerPartition`) */
export const licenseTimerPartition = (eventId: string) => `${LICENSE_TIMER}#${shardOf(onlineLicensePk(eventId), TIMER_SHARDS)}`;

const optionalString = () => string().optional();

export function createOnlineLicenseEntities(table: ServiceTable) {
  const OnlineLicenseEntity = new Entity({
    name: 'OnlineLicense',
    table,
    timestamps: false,
    schema: item({
      eventId: string().key(),
      fingerprintHash: string(),
      fingerprintSealed: optionalString(),
      deviceKey: string(),
      instanceId: string(),
      /** JSON of LicenseInstanceFacts */
      facts: string(),
      testFlag: boolean(),
      effectiveTime: string(),
      expireTime: optionalString(),
      requestedAt: string(),
      state: string().enum('PENDING', 'DELIVERED', 'FAILED'),
      attempts: number(),
      timer: optionalString(),
      dueAt: optionalString(),
      licenseCharacters: optionalString(),
      licenseFile: optionalString(),
      licenseFileName: optionalString(),
      sha256: optionalString(),
      lastError: optionalString(),
      deliveredAt: optionalString(),
      failedAt: optionalString(),
      version: number(),
    }),
    computeKey: ({ eventId }) => ({ pk: onlineLicensePk(eventId), sk: 'LICENSE' }),
  });

  const OnlineLicenseDeviceEntity = new Entity({
    name: 'OnlineLicenseDevice',
    table,
    timestamps: false,
    schema: item({ instanceId: string().key(), deviceKey: string().key(), eventId: string(), at: string() }),
    computeKey: ({ instanceId, deviceKey }) => ({ pk: instanceLicensesPk(instanceId), sk: `DEVICE#${deviceKey}` }),
  });

  const OnlineLicenseQuotaEntity = new Entity({
    name: 'OnlineLicenseQuota',
    table,
    timestamps: false,
    schema: item({ instanceId: string().key(), devices: number(), version: number() }),
    computeKey: ({ instanceId }) => ({ pk: instanceLicensesPk(instanceId), sk: 'QUOTA' }),
  });

  return { OnlineLicenseEntity, OnlineLicenseDeviceEntity, OnlineLicenseQuotaEntity };
}
export type OnlineLicenseEntities = ReturnType<typeof createOnlineLicenseEntities>;
