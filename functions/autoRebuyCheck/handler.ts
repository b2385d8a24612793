import { checkRebuyIntents } from '#shared/domain/usage';
import { createScheduledHandler } from '#shared/http/scheduledJob';

/**
 * Every 15 minutes: rebuy intents raised by a usage deduction (each deduction evaluates the threshold
 * itself) but not handed to the notifier, because their process died, are handed over.
 */
export const handler = createScheduledHandler('autoRebuyCheck', (services, { now, timeLeftMs }) => checkRebuyIntents(services, now, timeLeftMs));
