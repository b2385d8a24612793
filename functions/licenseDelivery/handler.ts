import { deliverDueLicenses } from '#shared/domain/onlineLicense';
import { createScheduledHandler } from '#shared/http/scheduledJob';
import '#shared/runtime/licensing';

/**
 * Every minute: online Licenses whose delivery is due (not delivered within their getLicenseAsync call, or a
 * failed upload's retry) are generated (once) and uploaded (spec 6.4), found on the byDue index. "Now" is the
 * scheduled event's time, so tests and operators move the clock.
 */
export const handler = createScheduledHandler('licenseDelivery', (services, { now, timeLeftMs }) => deliverDueLicenses(services, now, timeLeftMs));
