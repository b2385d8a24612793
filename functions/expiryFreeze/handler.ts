import { freezeExpired } from '#shared/domain/lifecycleTimers';
import { createScheduledHandler } from '#shared/http/scheduledJob';

/** Hourly: yearly/monthly instances still ACTIVE past expiry + grace are frozen locally and alerted. */
export const handler = createScheduledHandler('expiryFreeze', (services, { now, timeLeftMs }) => freezeExpired(services, now, timeLeftMs));
