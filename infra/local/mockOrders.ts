/**
 * The marketplace's debugging mock orders (spec 6.1 "Mock orders for debugging"), as served by the
 * local marketplace emulator. The ids are the real ones; the contents are invented but shaped like the
 * observed `MOCKPERIODYEARNEW` response. All personal data is obviously fake.
 */
import type { BuyerInfo, ChargingMode, OrderInfo, OrderType } from '#shared/openapi/order';
import { formatMarketTime } from '#shared/protocol/time';

type PeriodType = 'year' | 'month' | 'day';

interface Scenario {
  orderId: string;
  orderType: OrderType;
  chargingMode: ChargingMode;
  period?: { type: PeriodType; number: number };
  linearValue: number;
}

const SCENARIOS: readonly Scenario[] = [
  { orderId: 'MOCKPERIODYEARNEW', orderType: 'NEW', chargingMode: 'PERIOD', period: { type: 'year', number: 1 }, linearValue: 50 },
  { orderId: 'MOCKONETIMENEW', orderType: 'NEW', chargingMode: 'ONE_TIME', linearValue: 10 },
  { orderId: 'MOCKONDEMAND', orderType: 'NEW', chargingMode: 'ON_DEMAND', linearValue: 1 },
  // A package is bought for a validity period (our assumption: one year).
  { orderId: 'MOCKONDEMANDPKG', orderType: 'NEW', chargingMode: 'ON_DEMAND_PKG', period: { type: 'year', number: 1 }, linearValue: 1000 },
  { orderId: 'MOCKPERIODDAYTRIAL', orderType: 'TRIAL', chargingMode: 'PERIOD', period: { type: 'day', number: 7 }, linearValue: 5 },
  { orderId: 'MOCKMONTYTRIALTOFORMAL', orderType: 'TRIAL_TO_FORMAL', chargingMode: 'PERIOD', period: { type: 'month', number: 1 }, linearValue: 5 },
  { orderId: 'MOCKMONTYUNSUBSCRIBE', orderType: 'UNSUBSCRIBE', chargingMode: 'PERIOD', period: { type: 'month', number: 1 }, linearValue: 20 },
  { orderId: 'MOCKMONTYRENEW', orderType: 'RENEW', chargingMode: 'PERIOD', period: { type: 'month', number: 1 }, linearValue: 20 },
  { orderId: 'MOCKMONTYCHANGE', orderType: 'CHANGE', chargingMode: 'PERIOD', period: { type: 'month', number: 1 }, linearValue: 100 },
];

/** Stable fake product / SKU ids per charging mode (a product id differs per period type, spec 6.1). */
const PRODUCTS: Record<ChargingMode, { productId: string; skuCode: string; productName: string }> = {
  PERIOD: { productId: 'OFFI000000000000000001', skuCode: '00000000-0000-4000-8000-000000000001', productName: 'Mock SaaS (periodic)' },
  ONE_TIME: { productId: 'OFFI000000000000000002', skuCode: '00000000-0000-4000-8000-000000000002', productName: 'Mock SaaS (one-time)' },
  ON_DEMAND: { productId: 'OFFI000000000000000003', skuCode: '00000000-0000-4000-8000-000000000003', productName: 'Mock SaaS (on demand)' },
  ON_DEMAND_PKG: { productId: 'OFFI000000000000000004', skuCode: '00000000-0000-4000-8000-000000000004', productName: 'Mock SaaS (on-demand package)' },
};

const BUYER: BuyerInfo = {
  customerId: '00000000000000000000000000000000',
  customerName: 'mock_buyer_01',
  customerRealName: 'Mock Buyer',
  customerType: 0,
  mobilePhone: '00000000000',
  email: 'mock.buyer@example.com',
};

/** `from` plus `n` periods in UTC; month arithmetic clamps to the end of a shorter month. */
function addPeriod(from: Date, type: PeriodType, n: number): Date {
  const d = new Date(from);
  if (type === 'day') {
    d.setUTCDate(d.getUTCDate() + n);
    return d;
  }
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() + (type === 'year' ? 12 * n : n));
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, lastDay));
  return d;
}

/**
 * The nine mock orders, created at `now`. Periodic lines expire one period after `now`, except the
 * unsubscription, whose line ends at `now`. Reverse (unsubscription) orders carry no amounts (spec 6.1).
 */
export function mockOrders(now: Date): OrderInfo[] {
  return SCENARIOS.map((s) => {
    const reverse = s.orderType === 'UNSUBSCRIBE';
    const expire = s.period && (reverse ? now : addPeriod(now, s.period.type, s.period.number));
    return {
      orderId: s.orderId,
      orderType: s.orderType,
      createTime: formatMarketTime(now),
      orderLine: [
        {
          orderLineId: `${s.orderId}-000001`,
          chargingMode: s.chargingMode,
          ...(s.period && { periodType: s.period.type, periodNumber: s.period.number }),
          ...(expire && { expireTime: formatMarketTime(expire) }),
          productInfo: [{ ...PRODUCTS[s.chargingMode], linearValue: s.linearValue }],
          extendParams: [
            { name: 'emailDomainName', value: 'mock.example.com' },
            { name: 'ip', value: '127.0.0.1' },
          ],
          ...(!reverse && { currency: '100', currencyAfterDiscount: '100' }),
        },
      ],
      buyerInfo: { ...BUYER },
      extendParams: [],
    };
  });
}
