import { describe, expect, it } from 'vitest';
import { OrderInfo, findOrderLine } from '#shared/openapi/order';

/** The observed MOCKPERIODYEARNEW response body of spec 6.1. */
const OBSERVED = {
  orderId: 'MOCKPERIODYEARNEW',
  orderType: 'NEW',
  createTime: '20241121090846',
  orderLine: [
    {
      orderLineId: 'MOCKPERIODYEARNEW-000001',
      chargingMode: 'PERIOD',
      periodType: 'year',
      periodNumber: 1,
      expireTime: '20251121235959',
      productInfo: [
        { productId: 'OFFI846204237451911168', skuCode: '0a4d1578-5295-46a7-92d4-7c803dccc51d', linearValue: 50, productName: '<mock product name>' },
      ],
      extendParams: [
        { name: 'emailDomainName', value: 'test.xxxx.com' },
        { name: 'ip', value: '127.0.0.1' },
      ],
      currency: '100',
      currencyAfterDiscount: '100',
    },
  ],
  buyerInfo: {
    mobilePhone: '18688888888',
    email: null,
    customerId: '459bbbec25d24749b2eb83be37b602a8',
    customerName: 'mock_user_01',
    customerRealName: '<real name>',
    customerType: 0,
    userId: null,
    userName: null,
  },
  extendParams: [],
};

describe('OrderInfo schema', () => {
  it('parses the observed response and turns nulls into undefined', () => {
    const order = OrderInfo.parse(OBSERVED);
    expect(order.orderLine[0]?.productInfo?.[0]?.linearValue).toBe(50);
    expect(order.buyerInfo?.email).toBeUndefined();
    expect(order.buyerInfo?.userName).toBeUndefined();
    expect(order.buyerInfo?.customerName).toBe('mock_user_01');
  });

  it('accepts null or absent optional fields anywhere', () => {
    const order = OrderInfo.parse({
      orderId: 'X',
      orderType: 'NEW',
      createTime: null,
      buyerInfo: null,
      extendParams: null,
      orderLine: [
        {
          orderLineId: 'X-1',
          chargingMode: 'ONE_TIME',
          periodType: null,
          periodNumber: null,
          expireTime: null,
          productInfo: [{ skuCode: null, linearValue: null }],
          extendParams: [{ name: 'ip', value: null }],
          currency: null,
        },
      ],
    });
    expect(order.createTime).toBeUndefined();
    expect(order.buyerInfo).toBeUndefined();
    expect(order.orderLine[0]).toMatchObject({ orderLineId: 'X-1', chargingMode: 'ONE_TIME', productInfo: [{}] });
    expect(order.orderLine[0]?.extendParams).toEqual([{ name: 'ip', value: undefined }]);
  });

  it('drops unknown fields at every level', () => {
    const order = OrderInfo.parse({
      ...OBSERVED,
      somethingNew: { a: 1 },
      orderLine: [{ ...OBSERVED.orderLine[0], lineExtra: true, productInfo: [{ skuCode: 's', extra: 1 }] }],
    });
    expect(order).not.toHaveProperty('somethingNew');
    expect(order.orderLine[0]).not.toHaveProperty('lineExtra');
    expect(order.orderLine[0]?.productInfo).toEqual([{ skuCode: 's' }]);
  });

  it('keeps unknown chargingMode and orderType values as strings', () => {
    const order = OrderInfo.parse({
      orderId: 'X',
      orderType: 'SOMETHING_NEW',
      orderLine: [{ orderLineId: 'X-1', chargingMode: 'PAY_PER_DREAM' }],
    });
    expect(order.orderType).toBe('SOMETHING_NEW');
    expect(order.orderLine[0]?.chargingMode).toBe('PAY_PER_DREAM');
  });

  it('rejects orders without the fields we cannot act without', () => {
    expect(OrderInfo.safeParse({ orderType: 'NEW', orderLine: [] }).success).toBe(false);
    expect(OrderInfo.safeParse({ orderId: 'X', orderType: 'NEW' }).success).toBe(false);
    expect(OrderInfo.safeParse({ orderId: 'X', orderType: 'NEW', orderLine: [{ orderLineId: 'X-1' }] }).success).toBe(false);
    expect(OrderInfo.safeParse({ orderId: 'X', orderType: 'NEW', orderLine: [{ orderLineId: 'X-1', chargingMode: 3 }] }).success).toBe(false);
  });
});

describe('findOrderLine', () => {
  const order = OrderInfo.parse({
    orderId: 'X',
    orderType: 'NEW',
    orderLine: [
      { orderLineId: 'X-1', chargingMode: 'PERIOD' },
      { orderLineId: 'X-2', chargingMode: 'ON_DEMAND' },
    ],
  });

  it('returns the first line without an id, the matching line with one', () => {
    expect(findOrderLine(order)?.orderLineId).toBe('X-1');
    expect(findOrderLine(order, 'X-2')?.chargingMode).toBe('ON_DEMAND');
    expect(findOrderLine(order, 'X-3')).toBeUndefined();
    expect(findOrderLine({ ...order, orderLine: [] })).toBeUndefined();
  });
});
