import * as z from '#shared/zod';
import { describeHardwareOrder, recordAcceptance, recordShipment, recordSignOff } from '#shared/domain/hardware';
import { fields } from '#shared/http/callback';
import { createInternalHandler, parseJsonBody, pathId } from '#shared/http/internalRoute';

const text = fields.id;
const instant = z.pipe(z.iso.datetime({ offset: true }), z.transform((s: string) => new Date(s)));
const line = { orderLineId: z.optional(text(64)) };

const Shipment = z.strictObject({ ...line, carrier: text(64), trackingNumber: text(64), waybillPhone: text(32), shippedAt: z.optional(instant) });
const SignOff = z.strictObject({ ...line, signedAt: z.optional(instant) });
const Acceptance = z.strictObject({ ...line, action: z.enum(['accept', 'reject', 'appeal']), at: z.optional(instant), note: z.optional(z.string().check(z.maxLength(500))) });

/**
 * Hardware orders under service supervision, IAM-authorised:
 * `GET /internal/orders/{orderId}`, `POST …/shipment`, `POST …/sign-off`, `POST …/acceptance`.
 */
export const handler = createInternalHandler(async (services, event) => {
  const path = pathId(event, 'orderId');
  if ('refused' in path) return path.refused;
  const orderId = path.id;
  const now = new Date();
  if (event.httpMethod === 'GET') return describeHardwareOrder(services, orderId);
  const action = event.resource?.split('/').pop();
  if (action === 'shipment') return parseJsonBody(event, Shipment, (body) => recordShipment(services, orderId, body, now));
  if (action === 'sign-off') return parseJsonBody(event, SignOff, (body) => recordSignOff(services, orderId, body, now));
  if (action === 'acceptance') return parseJsonBody(event, Acceptance, (body) => recordAcceptance(services, orderId, body, now));
  return { status: 404, body: { error: `no route ${event.httpMethod} ${event.resource}` } };
});
