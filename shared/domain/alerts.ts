/**
 * The operator-alert port: something a person must look at (a safety-net timer acted, a buyer must be
 * reminded by hand, a provisioning is stuck). The default (shared/notify) logs it at ERROR with a
 * stable `alert` field that a CloudWatch metric filter or log subscription can page on.
 * Alerts carry ids and reasons only: never personal data or secrets.
 */
import type { Logger } from '@aws-lambda-powertools/logger';

export interface OperatorAlert {
  /** stable machine name, e.g. `instance-frozen-locally` */
  kind: string;
  /** the ids of what the alert is about */
  subject: Record<string, string | undefined>;
  message: string;
}

export interface Alerts {
  raise(alert: OperatorAlert): Promise<void>;
}

/** Raises an alert without letting a failing alert sink undo or abort the work it is about (logged instead). */
export async function raiseQuietly(alerts: Alerts, logger: Logger, alert: OperatorAlert) {
  try {
    await alerts.raise(alert);
  } catch (error) {
    logger.error('could not raise an alert', { alert: alert.kind, ...alert.subject, error: error instanceof Error ? error.name : 'unknown' });
  }
}
