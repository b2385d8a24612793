/**
 * YOUR NOTIFICATIONS PLUG IN HERE (contract in shared/domain/notifier.ts): send the buyer's reminders
 * and failure notices by SMS / e-mail / in-site message, and hand rebuy intents to your ordering side.
 * The default records each one in the table and logs an `integration event`.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Settings } from '#shared/config';
import type { Notifier } from '#shared/domain/notifier';
import { createRecordingNotifier, type NotificationSink } from '#shared/notify/notifier';

export function createProductNotifier(settings: Settings, sink: NotificationSink, logger: Logger): Notifier {
  return createRecordingNotifier(sink, logger, settings.buyerNoticeChannel);
}
