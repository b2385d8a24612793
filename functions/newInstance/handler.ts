import { createProduceHandler } from '#shared/http/produceRoute';
import { newInstance } from './callback.ts';

/** `newInstance` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([newInstance]);
