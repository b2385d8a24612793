import { createV1Handler } from '#shared/http/v1Route';
import { v1Activities } from './activities.ts';

/** The SaaS V1 production URL, `GET /produce/v1` (spec 3.14): the activities in ./activities.ts. */
export const handler = createV1Handler(v1Activities);
