import { createProduceHandler } from '#shared/http/produceRoute';
import { updateLicenseCodeStatus } from './callback.ts';

/** `updateLicenseCodeStatus` on its own (invoke, redrive); the marketplace reaches it through the production URL. */
export const handler = createProduceHandler([updateLicenseCodeStatus]);
