/**
 * The signed webhook provisioner (PROVISIONER=webhook, README "Webhook provisioner"): the product is
 * asked over HTTPS instead of in-process.
 *
 * - `provision` POSTs `{ type: 'provision', instanceId, orderId, orderLineId, attempt, testFlag, order }`.
 *   The order is the marketplace's query-order answer with the buyer reduced to who the buyer is
 *   (`customerId`, `customerName`, `customerType`, `userId`, `userName`): no phone, e-mail or real name.
 *   The product answers 200 with the AppInfo JSON (`frontEndUrl` required), or a 4xx with
 *   `{ resultCode: '000100'…'000107', message, permanent? }` to refuse (a ProvisioningError). Anything
 *   else, a timeout or a network failure is a WebhookError: transient, the domain tries again later.
 * - `onLifecycle` POSTs `{ type: 'lifecycle', event, state, from, instance }`, the instance as stored
 *   without the tenant password and without the buyer's contact data; any 2xx is an acknowledgement.
 * - Every request carries `X-Koogallery-Timestamp` (ms), `X-Koogallery-Signature` (hex HMAC-SHA256 of
 *   `timestamp + '.' + body` with the shared secret; check it with `verifyWebhookSignature`) and
 *   `X-Koogallery-Event-Id`, stable per instance and attempt (per instance and version for lifecycle
 *   events), so the product can recognise a repeat.
 * - One request (its one quick retry after a network error included) lasts at most `timeoutMs`, and never
 *   past the caller's signal.
 * - `answersLater` (PROVISIONER=async, README "Asynchronous provisioner"): the provision request carries
 *   `"reply": "later"` and the product may answer `202 Accepted`; it then posts the app info (or its
 *   refusal) to `POST /internal/instances/{instanceId}/ready` (or `/failed`) when it is done. A 200 with
 *   the app info or a 4xx refusal is still taken at once.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { OrderInfo } from '#shared/openapi/order';
import * as z from '#shared/zod';
import { appInfoFields } from './appInfo.ts';
import { appInfoOf, type AppInfo, type Instance } from '#shared/domain/instance';
import { accepted, ProvisioningError, REFUSAL_CODES, type Accepted, type LifecycleChange, type ProvisionRequest, type Provisioner } from '#shared/domain/provisioner';

export const TIMESTAMP_HEADER = 'X-Koogallery-Timestamp';
export const SIGNATURE_HEADER = 'X-Koogallery-Signature';
export const EVENT_ID_HEADER = 'X-Koogallery-Event-Id';

export interface WebhookProvisionerOptions {
  url: string;
  /** the signing secret; a function is asked before each request (a rotated secret is picked up) */
  secret: string | (() => Promise<string>);
  /** one request, its retry included */
  timeoutMs: number;
  /** the pause before the one retry after a network error */
  retryDelayMs?: number;
  /** the product may answer 202 and post its answer to the ready route later (PROVISIONER=async) */
  answersLater?: boolean;
  /** with `answersLater`: a request the product accepted is sent again only after this long without its answer */
  resendAfterMs?: number;
}

/**
 * A transient failure of the webhook (timeout, network, unexpected answer). `code` names the kind
 * (`timeout`, `aborted`, `network`, `http-<status>`, `bad-answer`): logs carry the class and code only.
 */
export class WebhookError extends Error {
  override readonly name = 'WebhookError';
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** hex HMAC-SHA256(secret, timestamp + '.' + body) */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

/** The headers of a signed POST to the product (provisioning, lifecycle, forwarded events), signed now. */
export function signedWebhookHeaders(secret: string, body: string, eventId: string, contentType = 'application/json'): Record<string, string> {
  const timestamp = String(Date.now());
  return {
    'Content-Type': contentType,
    [TIMESTAMP_HEADER]: timestamp,
    [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
    [EVENT_ID_HEADER]: eventId,
  };
}

/**
 * The receiving side's check: the signature is the one of `timestamp + '.' + body` under `secret`, and the
 * timestamp (ms) is within `windowMs` of `nowMs`. Compare in constant time; `body` is the raw request body.
 */
export function verifyWebhookSignature(secret: string, timestamp: string, body: string, signature: string, nowMs: number, windowMs: number): boolean {
  if (!/^\d{1,16}$/.test(timestamp) || Math.abs(nowMs - Number(timestamp)) > windowMs) return false;
  if (!/^[0-9a-fA-F]{64}$/.test(signature)) return false;
  const expected = Buffer.from(signWebhook(secret, timestamp, body), 'hex');
  return timingSafeEqual(expected, Buffer.from(signature, 'hex'));
}

const AppInfoAnswer = z.object(appInfoFields({ url: 2048, credential: 256, memo: 2048 }));

const RefusalAnswer = z.object({
  resultCode: z.enum(REFUSAL_CODES),
  message: z.optional(z.string()),
  permanent: z.optional(z.boolean()),
});

/** the largest answer read from the product */
const MAX_ANSWER_BYTES = 64 * 1024;
/** no retry is started with less time than this left */
const MIN_RETRY_MS = 100;

/** The order as sent to the product: the buyer is who bought, not how to reach them. */
export function orderForProduct(order: OrderInfo): OrderInfo {
  const { buyerInfo, ...rest } = order;
  if (!buyerInfo) return rest;
  const { customerId, customerName, customerType, userId, userName } = buyerInfo;
  return { ...rest, buyerInfo: { customerId, customerName, customerType, userId, userName } };
}

/** The instance as sent to the product: no tenant password, no buyer contact data. */
export function instanceForProduct(instance: Instance): Instance {
  const { appInfo, buyer, ...rest } = instance;
  return {
    ...rest,
    ...(appInfo ? { appInfo: withoutPassword(appInfo) } : {}),
    ...(buyer ? { buyer: { customerId: buyer.customerId, customerName: buyer.customerName } } : {}),
  };
}

const withoutPassword = ({ password: _password, ...rest }: AppInfo): AppInfo => rest;

export function createWebhookProvisioner(options: WebhookProvisionerOptions): Provisioner {
  const secretOf = typeof options.secret === 'string' ? async () => options.secret as string : options.secret;
  const retryDelayMs = options.retryDelayMs ?? 50;

  /** One signed POST, with one retry after a network error while time is left; never past `signal`. */
  async function post(payload: unknown, eventId: string, signal?: AbortSignal): Promise<{ status: number; body: string }> {
    const deadline = Date.now() + options.timeoutMs;
    const body = JSON.stringify(payload);
    const secret = await secretOf();
    for (let attempt = 1; ; attempt++) {
      const left = deadline - Date.now();
      if (signal?.aborted) throw new WebhookError('the provisioning budget ran out', 'aborted');
      if (left <= 0) throw new WebhookError(`no answer within ${options.timeoutMs} ms`, 'timeout');
      const timeout = AbortSignal.timeout(left);
      try {
        const response = await fetch(options.url, {
          method: 'POST',
          headers: signedWebhookHeaders(secret, body, eventId),
          body,
          redirect: 'manual',
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        });
        return { status: response.status, body: await readLimited(response) };
      } catch (error) {
        if (signal?.aborted) throw new WebhookError('the provisioning budget ran out', 'aborted');
        if (timeout.aborted) throw new WebhookError(`no answer within ${options.timeoutMs} ms`, 'timeout');
        if (error instanceof WebhookError) throw error;
        if (attempt >= 2 || deadline - Date.now() < MIN_RETRY_MS + retryDelayMs) throw new WebhookError('the webhook could not be reached', 'network');
        await pause(retryDelayMs, signal);
      }
    }
  }

  return {
    // the product creates real things: the order line is claimed before it is asked
    sideEffectFree: false,

    async provision(request: ProvisionRequest, signal: AbortSignal): Promise<AppInfo | Accepted> {
      const { instanceId, orderId, orderLineId, attempt, testFlag, order } = request;
      const payload = {
        type: 'provision',
        ...(options.answersLater ? { reply: 'later' } : {}),
        instanceId,
        orderId,
        orderLineId,
        attempt,
        testFlag,
        order: orderForProduct(order),
      };
      const answer = await post(payload, `${instanceId}.provision.${attempt}`, signal);
      if (answer.status === 202 && options.answersLater) return accepted(options.resendAfterMs);
      if (answer.status === 200) {
        const parsed = AppInfoAnswer.safeParse(parseJson(answer.body));
        if (!parsed.success) throw new WebhookError('the product answered 200 without valid app info', 'bad-answer');
        return appInfoOf(parsed.data);
      }
      if (answer.status >= 400 && answer.status < 500) {
        const refusal = RefusalAnswer.safeParse(parseJson(answer.body));
        if (refusal.success)
          throw new ProvisioningError((refusal.data.message || 'refused by the product').slice(0, 200), refusal.data.resultCode, refusal.data.permanent ?? false);
      }
      throw new WebhookError(`the product answered HTTP ${answer.status}`, `http-${answer.status}`);
    },

    async onLifecycle(change: LifecycleChange): Promise<void> {
      const { event, from, instance } = change;
      const payload = { type: 'lifecycle', event, state: instance.status, from, instance: instanceForProduct(instance) };
      const answer = await post(payload, `${instance.instanceId}.lifecycle.${event}.${instance.version}`);
      if (answer.status < 200 || answer.status >= 300) throw new WebhookError(`the product answered HTTP ${answer.status}`, `http-${answer.status}`);
    },
  };
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** The answer's text, refused beyond MAX_ANSWER_BYTES (a product bug, or not the product at all). */
async function readLimited(response: Response): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > MAX_ANSWER_BYTES) {
    await response.body?.cancel();
    throw new WebhookError('the answer is too large', 'bad-answer');
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body)
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > MAX_ANSWER_BYTES) throw new WebhookError('the answer is too large', 'bad-answer');
      chunks.push(chunk);
    }
  return Buffer.concat(chunks).toString('utf8');
}

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
