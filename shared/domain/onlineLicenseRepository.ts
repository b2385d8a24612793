/**
 * Online-License records (one per `eventId` of getLicenseAsync, spec 3.12) and the storage port that
 * shared/storage/onlineLicenses.ts implements. The request logic is in ./onlineLicense.ts.
 */
import type { LicenseInstanceFacts } from './licenseSigner.ts';
import type { CallReceipt } from './repository.ts';

export type DeliveryState = 'PENDING' | 'DELIVERED' | 'FAILED';

/** The License as stored once generated (a file as base64). */
export type StoredLicense = { characters: string } | { fileBase64: string; fileName: string };

export interface OnlineLicenseRecord {
  eventId: string;
  /** SHA-256 hex of the fingerprint as sent, or NO_FINGERPRINT */
  fingerprintHash: string;
  /** the fingerprint itself (personal device data: storage seals it) */
  deviceFingerprint?: string;
  /** what counts against the quota: the fingerprint hash, or `EVENT#<eventId>` without one */
  deviceKey: string;
  instanceId: string;
  /** the instance as it was when the request was claimed (the License is made from these) */
  facts: LicenseInstanceFacts;
  testFlag: boolean;
  /** ISO instants */
  effectiveTime: string;
  expireTime?: string;
  requestedAt: string;
  state: DeliveryState;
  /** delivery attempts started */
  attempts: number;
  /** when the next attempt is due (PENDING: the end of the running attempt's lease, or the retry time) */
  dueAt?: string;
  license?: StoredLicense;
  sha256?: string;
  lastError?: string;
  deliveredAt?: string;
  failedAt?: string;
  version: number;
}

export const NO_FINGERPRINT = 'NONE';

export interface DeviceQuota {
  /** distinct devices holding a License of the instance */
  devices: number;
  /** of the counter (0: none yet) */
  version: number;
  /** the device asked about already holds a License of the instance */
  known: boolean;
}

export interface OnlineLicenseRepository {
  /** consistent read */
  getLicense(eventId: string): Promise<OnlineLicenseRecord | undefined>;
  /** the instance's device count and whether `deviceKey` is one of them (consistent reads) */
  getQuota(instanceId: string, deviceKey: string): Promise<DeviceQuota>;
  /**
   * One transaction: the receipt (nonce + audit), the record (must be new) and, for a new device, the device
   * record (must be new) and the counter's next version (conditional on `quota.version`). 'lost' when any
   * condition failed or a concurrent transaction interfered: nothing was written. NonceReplayError for a used nonce.
   */
  claimLicense(record: OnlineLicenseRecord, receipt: CallReceipt, quota: DeviceQuota): Promise<'claimed' | 'lost'>;
  /** writes the next version if nobody changed the record since `expectedVersion`; undefined when somebody did */
  saveLicense(next: OnlineLicenseRecord, expectedVersion: number, receipt?: CallReceipt): Promise<OnlineLicenseRecord | undefined>;
  /** event ids of records due at or before `now` (byDue index, LICENSE timer, every shard; no scan) */
  dueLicenses(now: Date, limit: number): Promise<{ eventIds: string[]; read: number }>;
}
