import { createProduceHandler } from '#shared/http/produceRoute';
import { orderNotify } from './callback.ts';

/** `orderNotify` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([orderNotify]);
