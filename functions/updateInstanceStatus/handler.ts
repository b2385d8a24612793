import { createProduceHandler } from '#shared/http/produceRoute';
import { updateInstanceStatus } from './callback.ts';

/** `updateInstanceStatus` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([updateInstanceStatus]);
