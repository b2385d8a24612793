import { createProduceHandler } from '#shared/http/produceRoute';
import { getLicenseAsync } from '../getLicenseAsync/callback.ts';
import { newInstance } from '../newInstance/callback.ts';
import { queryInstance } from '../queryInstance/callback.ts';
import { refreshInstance } from '../refreshInstance/callback.ts';
import { refreshLicenseCode } from '../refreshLicenseCode/callback.ts';
import { releaseInstance } from '../releaseInstance/callback.ts';
import { releaseLicenseCode } from '../releaseLicenseCode/callback.ts';
import { updateInstanceStatus } from '../updateInstanceStatus/callback.ts';
import { updateLicenseCodeStatus } from '../updateLicenseCodeStatus/callback.ts';

/**
 * The License production URL (`POST /license`, V2 signature): License 2.0 authorization codes (spec 3.11)
 * and online License (spec 3.12: the SaaS V2 instance callbacks plus getLicenseAsync), one signature
 * check, the same callbacks and store as /produce.
 */
export const handler = createProduceHandler([
  refreshLicenseCode,
  updateLicenseCodeStatus,
  releaseLicenseCode,
  newInstance,
  queryInstance,
  refreshInstance,
  updateInstanceStatus,
  releaseInstance,
  getLicenseAsync,
]);
