import { createKitHandler } from '#shared/http/kitRoute';
import { allOrgSync } from './sync.ts';

/** `POST /produceAPI/v2/allOrgSync` (V2) and `POST /produceAPI/allOrgSync` (V1). */
export const handler = createKitHandler(allOrgSync);
