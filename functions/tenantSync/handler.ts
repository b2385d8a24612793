import { createKitHandler } from '#shared/http/kitRoute';
import { tenantSync } from './sync.ts';

/** `POST /produceAPI/v2/tenantSync` (V2) and `POST /produceAPI/tenantSync` (V1). */
export const handler = createKitHandler(tenantSync);
