import { createProduceHandler } from '#shared/http/produceRoute';
import { releaseInstance } from './callback.ts';

/** `releaseInstance` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([releaseInstance]);
