import { createProduceHandler } from '#shared/http/produceRoute';
import { queryInstance } from './callback.ts';

/** `queryInstance` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([queryInstance]);
