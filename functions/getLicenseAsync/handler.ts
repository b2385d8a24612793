import { createProduceHandler } from '#shared/http/produceRoute';
import { getLicenseAsync } from './callback.ts';

/** `getLicenseAsync` on its own (invoke, redrive); the marketplace reaches it through the License production URL. */
export const handler = createProduceHandler([getLicenseAsync]);
