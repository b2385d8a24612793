import { describe, expect, it } from 'vitest';
import { OrderInfo } from '#shared/openapi/order';
import { mockOrders } from '#infra/local/mockOrders';

const NOW = new Date('2024-01-31T09:08:46.789Z');

describe('mockOrders', () => {
  const orders = mockOrders(NOW);
  const byId = new Map(orders.map((o) => [o.orderId, o]));
  const line = (id: string) => byId.get(id)?.orderLine[0];

  it('has the nine ids of spec 6.1, each with line <id>-000001, all valid OrderInfo', () => {
    expect([...byId.keys()]).toEqual([
      'MOCKPERIODYEARNEW',
      'MOCKONETIMENEW',
      'MOCKONDEMAND',
      'MOCKONDEMANDPKG',
      'MOCKPERIODDAYTRIAL',
      'MOCKMONTYTRIALTOFORMAL',
      'MOCKMONTYUNSUBSCRIBE',
      'MOCKMONTYRENEW',
      'MOCKMONTYCHANGE',
    ]);
    for (const o of orders) {
      expect(o.orderLine.map((l) => l.orderLineId)).toEqual([`${o.orderId}-000001`]);
      expect(OrderInfo.parse(o)).toEqual(o);
      expect(o.createTime).toBe('20240131090846');
      expect(o.orderLine[0]?.productInfo?.[0]).toMatchObject({ skuCode: expect.any(String), productId: expect.any(String) });
    }
  });

  it('matches each scenario', () => {
    expect(byId.get('MOCKPERIODDAYTRIAL')?.orderType).toBe('TRIAL');
    expect(byId.get('MOCKMONTYTRIALTOFORMAL')?.orderType).toBe('TRIAL_TO_FORMAL');
    expect(byId.get('MOCKMONTYUNSUBSCRIBE')?.orderType).toBe('UNSUBSCRIBE');
    expect(byId.get('MOCKMONTYRENEW')?.orderType).toBe('RENEW');
    expect(byId.get('MOCKMONTYCHANGE')?.orderType).toBe('CHANGE');
    expect(line('MOCKONETIMENEW')?.chargingMode).toBe('ONE_TIME');
    expect(line('MOCKONETIMENEW')).not.toHaveProperty('expireTime');
    expect(line('MOCKONDEMAND')?.chargingMode).toBe('ON_DEMAND');
    expect(line('MOCKONDEMAND')).not.toHaveProperty('expireTime');
    expect(line('MOCKONDEMANDPKG')?.chargingMode).toBe('ON_DEMAND_PKG');
    expect(line('MOCKMONTYUNSUBSCRIBE')?.expireTime).toBe('20240131090846');
    expect(line('MOCKMONTYUNSUBSCRIBE')).not.toHaveProperty('currency');
  });

  it('expires periodic lines one period after now (UTC, clamped to month end)', () => {
    expect(line('MOCKPERIODYEARNEW')).toMatchObject({ periodType: 'year', periodNumber: 1, expireTime: '20250131090846' });
    expect(line('MOCKPERIODDAYTRIAL')).toMatchObject({ periodType: 'day', periodNumber: 7, expireTime: '20240207090846' });
    expect(line('MOCKMONTYRENEW')).toMatchObject({ periodType: 'month', periodNumber: 1, expireTime: '20240229090846' });
  });
});
