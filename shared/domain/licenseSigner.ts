/**
 * The License-signer port (online License, spec 3.12): turns one `getLicenseAsync` request into the License the
 * marketplace delivers to the buyer's client software (string or file, spec 6.4). The default implementation is
 * shared/provisioning/ed25519LicenseSigner.ts; the product replaces it in shared/product/licenseSigner.ts, as it
 * replaces the provisioner.
 *
 * Contract:
 * - `sign` may be slow (it runs after the marketplace was answered 000004, in the call when time allows, else in
 *   the `licenseDelivery` job) and may throw: a failure is retried with backoff, then an operator is alerted.
 * - The License of one request is generated until it is first stored and then never again: a later attempt
 *   re-uploads the stored one. `sign` should still be a function of its input (`issuedAt` is the time of the
 *   request's first claim, stable across retries), so that a lost attempt yields the same License.
 * - At most `MAX_UPLOAD_CHARACTERS` (1024) characters travel as a string; a longer string is sent as a file.
 * - `requiresFingerprint` (default: every product requires one) decides 000903 when no `deviceFingerprint` is sent.
 */
import type { ProductSpec } from './instance.ts';

/** What is known of the instance a License is requested for. */
export interface LicenseInstanceFacts {
  instanceId: string;
  orderId: string;
  orderLineId: string;
  product: ProductSpec;
  chargingMode: string;
  periodType?: string;
  /** ISO instant: the end of the instance's current validity (yearly/monthly) */
  instanceExpireTime?: string;
  /** console debug instance */
  testFlag: boolean;
}

export interface LicenseRequest {
  instance: LicenseInstanceFacts;
  eventId: string;
  /** as sent by the marketplace; absent for products that do not bind to hardware */
  deviceFingerprint?: string;
  effectiveTime: Date;
  /** absent for a perpetual / on-demand License */
  expireTime?: Date;
  /** when the request was first claimed (stable across retries) */
  issuedAt: Date;
}

/** A License as delivered: a string, or a file (spec 6.4 `CHARACTERS` / `FILE`). */
export type SignedLicense = { characters: string } | { file: Uint8Array; fileName: string };

export interface LicenseSigner {
  /** whether a product's Licenses are bound to a device (000903 without a fingerprint); default: always */
  requiresFingerprint?(product: ProductSpec): boolean;
  sign(request: LicenseRequest): Promise<SignedLicense>;
}

export const requiresFingerprint = (signer: LicenseSigner, product: ProductSpec): boolean => signer.requiresFingerprint?.(product) ?? true;
