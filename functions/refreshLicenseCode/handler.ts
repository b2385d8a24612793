import { createProduceHandler } from '#shared/http/produceRoute';
import { refreshLicenseCode } from './callback.ts';

/** `refreshLicenseCode` on its own (invoke, redrive); the marketplace reaches it through the production URL. */
export const handler = createProduceHandler([refreshLicenseCode]);
