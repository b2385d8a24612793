import { createProduceHandler } from '#shared/http/produceRoute';
import { releaseLicenseCode } from './callback.ts';

/** `releaseLicenseCode` on its own (invoke, redrive); the marketplace reaches it through the production URL. */
export const handler = createProduceHandler([releaseLicenseCode]);
