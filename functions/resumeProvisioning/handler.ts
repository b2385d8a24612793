import { resumeDueProvisioning } from '#shared/domain/provisioning';
import { createScheduledHandler } from '#shared/http/scheduledJob';

/**
 * Every minute: provisioning that outlived newInstance's answer budget (or whose process died) is
 * picked up again from the byDue index. "Now" is the scheduled event's time, so tests move the clock.
 */
export const handler = createScheduledHandler('resumeProvisioning', (services, { now, timeLeftMs }) => resumeDueProvisioning(services, now, timeLeftMs));
