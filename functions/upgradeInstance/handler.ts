import { createProduceHandler } from '#shared/http/produceRoute';
import { upgradeInstance } from './callback.ts';

/** `upgradeInstance` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([upgradeInstance]);
