import { releaseRetained } from '#shared/domain/lifecycleTimers';
import { createScheduledHandler, JobEventError } from '#shared/http/scheduledJob';

/**
 * Hourly: instances frozen past their retention are released (the product deletes the tenant's data)
 * and alerted. Mode RELEASE_MODE (release | report), or `{"mode":"report"}` in the event for one run.
 */
export const handler = createScheduledHandler('resourceRelease', (services, { now, timeLeftMs, event }) => {
  const mode = event.mode ?? services.settings.releaseMode;
  if (mode !== 'release' && mode !== 'report') throw new JobEventError('event.mode must be release or report');
  return releaseRetained(services, now, mode, timeLeftMs);
});
