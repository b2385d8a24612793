import { createProduceHandler } from '#shared/http/produceRoute';
import { changeInstanceCheck } from './callback.ts';

/** `changeInstanceCheck` on its own (invoke, redrive); the marketplace reaches it through the produce route. */
export const handler = createProduceHandler([changeInstanceCheck]);
