/**
 * The operator-alert port: something a person must look at (a safety-net timer acted, a buyer must be
 * reminded by hand, a provisioning is stuck). The default (shared/notify) logs it at ERROR with a
 * stable `alert` field that a CloudWatch metric filter or log subscription can page on.
 * Alerts carry ids and reasons only: never personal data or secrets.
 */
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
