import { pushDueUsage } from '#shared/domain/usage';
import { createScheduledHandler } from '#shared/http/scheduledJob';

/** Hourly at :05 (and daily at 00:05 as a fallback): ended hours of on-demand usage are pushed to the marketplace. */
export const handler = createScheduledHandler('usagePush', (services, { now, timeLeftMs }) => pushDueUsage(services, now, timeLeftMs));
