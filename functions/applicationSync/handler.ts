import { createKitHandler } from '#shared/http/kitRoute';
import { applicationSync } from './sync.ts';

/** `POST /produceAPI/v2/applicationSync` (V2) and `POST /produceAPI/applicationSync` (V1). */
export const handler = createKitHandler(applicationSync);
