import { autoAcceptHardware } from '#shared/domain/hardware';
import { createScheduledHandler } from '#shared/http/scheduledJob';

/** Hourly: signed-for hardware parcels are accepted after 10 days, or their buyer reminded (phone mismatch). */
export const handler = createScheduledHandler('hardwareAutoAccept', (services, { now, timeLeftMs }) => autoAcceptHardware(services, now, timeLeftMs));
