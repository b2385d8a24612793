/** The default operator alerts: one ERROR log line with a stable `alert` field (page on it). */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Alerts } from '#shared/domain/alerts';

export function createLogAlerts(logger: Logger): Alerts {
  return {
    async raise({ kind, subject, message }) {
      logger.error(`operator alert: ${kind}`, { alert: kind, ...subject, detail: message });
    },
  };
}
