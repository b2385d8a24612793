/**
 * Result codes the merchant returns to KooGallery (spec section 4.1). Business outcomes travel in
 * `resultCode` with HTTP 200; the marketplace retries anything but 000000 / 000004.
 */
export const ResultCode = {
  SUCCESS: '000000',
  AUTH_FAILED: '000001',
  INVALID_PARAMETER: '000002',
  INSTANCE_NOT_FOUND: '000003',
  IN_PROGRESS: '000004',
  INTERNAL_ERROR: '000005',
  NO_RESOURCE: '000100',
  MOBILE_INVALID: '000101',
  EMAIL_INVALID: '000102',
  ALREADY_PURCHASED: '000103',
  PRODUCT_ERROR: '000104',
  BENEFIT_ALREADY_USED: '000105',
  SOLD_OUT: '000106',
  EMAIL_DOMAIN_EXISTS: '000107',
  /** online License getLicenseAsync (spec 4.1) */
  LICENSE_QUOTA_EXCEEDED: '000900',
  LICENSE_OUTSIDE_VALIDITY: '000901',
  LICENSE_EXPIRY_REQUIRED: '000902',
  LICENSE_FINGERPRINT_REQUIRED: '000903',
} as const;

export type ResultCode = (typeof ResultCode)[keyof typeof ResultCode];

/** The fields every V2-style response carries; interface-specific fields are added beside them. */
export interface ResultEnvelope {
  resultCode: ResultCode;
  resultMsg: string;
}
