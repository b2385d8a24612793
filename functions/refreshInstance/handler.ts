import { createProduceHandler } from '#shared/http/produceRoute';
import { refreshInstance } from './callback.ts';

/** `refreshInstance` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([refreshInstance]);
