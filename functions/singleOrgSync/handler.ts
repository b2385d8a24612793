import { createKitHandler } from '#shared/http/kitRoute';
import { singleOrgSync } from './sync.ts';

/** `POST /produceAPI/v2/singleOrgSync` (V2) and `POST /produceAPI/singleOrgSync` (V1). */
export const handler = createKitHandler(singleOrgSync);
