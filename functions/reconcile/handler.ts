import { reconcileDue } from '#shared/domain/reconcile';
import { createScheduledHandler } from '#shared/http/scheduledJob';

/** Hourly: the live instances whose daily check is due are compared with their marketplace order. */
export const handler = createScheduledHandler('reconcile', (services, { now, timeLeftMs }) => reconcileDue(services, now, timeLeftMs));
