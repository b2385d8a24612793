import { watchProvisioning } from '#shared/domain/provisioning';
import { createScheduledHandler } from '#shared/http/scheduledJob';

/** Every 15 minutes: provisioning still unfinished 2 h after the first newInstance is retried and alerted. */
export const handler = createScheduledHandler('provisioningWatch', (services, { now, timeLeftMs }) => watchProvisioning(services, now, timeLeftMs));
