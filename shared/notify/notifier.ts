/**
 * The default notifier: every notification becomes a record in the table (the merchant's sender, or an
 * operator, picks them up: `GET /internal/orders/{orderId}` and the instance view show them) and an
 * `integration event` log line. Contact data is neither logged nor copied into the record.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { BuyerChannel, Notifier, NotificationRecord } from '#shared/domain/notifier';

export interface NotificationSink {
  recordNotification(record: NotificationRecord): Promise<void>;
}

export function createRecordingNotifier(sink: NotificationSink, logger: Logger, channel: BuyerChannel): Notifier {
  const record = async (r: NotificationRecord) => {
    await sink.recordNotification(r);
    logger.info('integration event', { type: r.kind, id: r.id, channel: r.channel, ...r.subject });
  };
  return {
    channel,
    async notifyBuyer({ kind, subject, message }) {
      await record({ id: crypto.randomUUID(), kind, channel, subject, message, at: new Date().toISOString() });
    },
    async rebuy(intent) {
      await record({
        id: intent.intentId,
        kind: 'package-rebuy-intent',
        subject: { instanceId: intent.instanceId, orderId: intent.orderId, generation: intent.generation },
        message: `remaining ${intent.remaining} of ${intent.quota} reached the threshold ${JSON.stringify(intent.threshold)}: buy the next package${intent.skuCode ? ` (${intent.skuCode})` : ''}`,
        at: intent.raisedAt,
      });
    },
  };
}
