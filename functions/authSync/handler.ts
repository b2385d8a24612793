import { createKitHandler } from '#shared/http/kitRoute';
import { authSync } from './sync.ts';

/** `POST /produceAPI/v2/authSync` (V2) and `POST /produceAPI/authSync` (V1). */
export const handler = createKitHandler(authSync);
