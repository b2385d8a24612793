/**
 * An event sink that POSTs each event to a URL, signed like the provisioner webhook (HMAC-SHA256 over
 * `<timestamp>.<body>`: X-Koogallery-Timestamp, X-Koogallery-Signature, X-Koogallery-Event-Id; verify
 * with verifyWebhookSignature). `npm start` forwards the local stream's events with it
 * (EVENTS_WEBHOOK_URL), so the product can be developed against real events on a laptop. Any 2xx is
 * delivered; anything else, or no answer within the timeout, is a failure (delivered again later).
 */
import { signedWebhookHeaders } from '#shared/provisioning/webhookProvisioner';
import type { EventSink } from './publisher.ts';

export function createWebhookSink(options: { url: string; secret: string; timeoutMs?: number }): EventSink {
  const timeoutMs = options.timeoutMs ?? 3000;
  return {
    async publish(events) {
      for (const [index, event] of events.entries()) {
        const body = JSON.stringify(event);
        const delivered = await fetch(options.url, {
          method: 'POST',
          headers: signedWebhookHeaders(options.secret, body, event.id, 'application/cloudevents+json'),
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        }).then(
          async (response) => {
            await response.arrayBuffer().catch(() => undefined);
            return response.ok;
          },
          () => false,
        );
        // in order: what follows a failed event waits for it
        if (!delivered) return { failedIds: events.slice(index).map((e) => e.id) };
      }
      return { failedIds: [] };
    },
  };
}
