/**
 * orderNotify (spec 3.8): record each order line once, with the order read through query order. A
 * hardware product's line (catalogue) opens its service-supervision record in the same write.
 */
import { findOrderLine } from '#shared/openapi/order';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import { buyerContactOf, productOf } from './instances.ts';
import { newHardwareOrder } from './supervision.ts';
import { success } from './replies.ts';

export async function notifyOrder(svc: Services, call: Call, req: { orderId: string; orderLineId: string }): Promise<Reply> {
  const { orderId, orderLineId } = req;
  const subject = { orderId, orderLineId };
  const repeat = async () => {
    const reply = success({}, 'success. (already notified)');
    await svc.store.recordCall(receiptOf(call, reply, subject));
    return reply;
  };
  if (await svc.store.getOrderNotice(orderId, orderLineId)) return repeat();
  const order = await svc.marketplace.queryOrder(orderId, orderLineId, { deadline: call.deadline });
  const { buyerInfo: _sealedSeparately, ...withoutBuyer } = order;
  const line = findOrderLine(order, orderLineId);
  const product = line ? productOf(line) : {};
  const buyer = buyerContactOf(order);
  const hardware =
    line && svc.catalogue.kindOf(product, line.chargingMode) === 'hardware'
      ? newHardwareOrder({ orderId, orderLineId, testFlag: call.testFlag, ...product, buyer, now: call.receivedAt })
      : undefined;
  const reply = success();
  const outcome = await svc.store.recordOrderNotice(
    {
      orderId,
      orderLineId,
      testFlag: call.testFlag,
      orderType: order.orderType,
      chargingMode: line?.chargingMode,
      order: withoutBuyer,
      buyer,
      notifiedAt: call.receivedAt.toISOString(),
    },
    receiptOf(call, reply, subject),
    hardware,
  );
  // a concurrent copy recorded it first: nothing of this copy was written, record it as the repeat it is
  return outcome === 'duplicate' ? repeat() : reply;
}
