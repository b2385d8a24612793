/** orderNotify (spec 3.8): record each order line once, with the order read through query order. */
import { findOrderLine } from '#shared/openapi/order';
import { receiptOf, type Call, type Reply, type Services } from './call.ts';
import { definedOnly } from './instances.ts';
import { success } from './replies.ts';

export async function notifyOrder(svc: Services, call: Call, req: { orderId: string; orderLineId: string }): Promise<Reply> {
  const { orderId, orderLineId } = req;
  const subject = { orderId, orderLineId };
  if (await svc.store.getOrderNotice(orderId, orderLineId)) {
    const reply = success({}, 'success. (already notified)');
    await svc.store.recordCall(receiptOf(call, reply, subject));
    return reply;
  }
  const { buyerInfo, ...order } = await svc.marketplace.queryOrder(orderId, orderLineId, { deadline: call.deadline });
  const line = findOrderLine({ ...order, buyerInfo }, orderLineId);
  const buyer = definedOnly({
    customerId: buyerInfo?.customerId,
    customerName: buyerInfo?.customerName,
    mobilePhone: buyerInfo?.mobilePhone,
    email: buyerInfo?.email,
  });
  const reply = success();
  const outcome = await svc.store.recordOrderNotice(
    {
      orderId,
      orderLineId,
      testFlag: call.testFlag,
      orderType: order.orderType,
      chargingMode: line?.chargingMode,
      order,
      buyer: Object.keys(buyer).length ? buyer : undefined,
      notifiedAt: call.receivedAt.toISOString(),
    },
    receiptOf(call, reply, subject),
  );
  // a concurrent copy recorded it first: this copy's nonce and audit record were not written with it
  if (outcome === 'duplicate') await svc.store.recordCall(receiptOf(call, success({}, 'success. (already notified)'), subject));
  return outcome === 'duplicate' ? success({}, 'success. (already notified)') : reply;
}
