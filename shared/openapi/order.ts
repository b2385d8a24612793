/**
 * Query-order response of the marketplace open API (spec 6.1).
 *
 * The schemas are deliberately lenient, because the field table is partly "observed" rather than
 * documented: unknown fields are dropped, optional fields may be `null` or absent (both come out as
 * `undefined`), and enum-like strings (`orderType`, `chargingMode`) keep values we do not know yet
 * instead of rejecting the whole order. Only the fields we cannot act without are required:
 * `orderId`, `orderType`, `orderLine[].orderLineId` and `orderLine[].chargingMode`.
 */
import * as z from '#shared/zod';

/** `T` accepted as `null`, absent or a valid value; parses to `T | undefined`. */
const optional = <T extends z.ZodMiniType>(schema: T) =>
  z.optional(z.pipe(z.nullish(schema), z.transform((v: z.output<T> | null | undefined) => v ?? undefined)));

/** A known value of `T`, or any other string (kept as is, so new marketplace values do not break parsing). */
type Lenient<T extends string> = T | (string & {});
const lenientString = <T extends string>() => z.custom<Lenient<T>>((v) => typeof v === 'string');

export const ChargingMode = z.enum(['PERIOD', 'ONE_TIME', 'ON_DEMAND', 'ON_DEMAND_PKG']);
export type ChargingMode = z.infer<typeof ChargingMode>;

export const OrderType = z.enum(['NEW', 'TRIAL', 'TRIAL_TO_FORMAL', 'UNSUBSCRIBE', 'RENEW', 'CHANGE']);
export type OrderType = z.infer<typeof OrderType>;

/** `{name, value}` extension parameter (order level, or buyer-entered listing parameters on a line). */
export const ExtendParam = z.object({
  name: z.string(),
  value: optional(z.string()),
});
export type ExtendParam = z.infer<typeof ExtendParam>;

export const ProductInfo = z.object({
  /** specification id */
  skuCode: optional(z.string()),
  /** product id; differs per period type */
  productId: optional(z.string()),
  /** value of the linear attribute (e.g. user count) */
  linearValue: optional(z.number()),
  productName: optional(z.string()),
});
export type ProductInfo = z.infer<typeof ProductInfo>;

export const BuyerInfo = z.object({
  customerId: optional(z.string()),
  customerName: optional(z.string()),
  customerRealName: optional(z.string()),
  /** meaning of the values is not documented (spec 6.1) */
  customerType: optional(z.number()),
  mobilePhone: optional(z.string()),
  email: optional(z.string()),
  userId: optional(z.string()),
  userName: optional(z.string()),
});
export type BuyerInfo = z.infer<typeof BuyerInfo>;

export const OrderLine = z.object({
  orderLineId: z.string(),
  chargingMode: lenientString<ChargingMode>(),
  /** e.g. `year`, `month` (periodic only) */
  periodType: optional(z.string()),
  periodNumber: optional(z.number()),
  /** `yyyyMMddHHmmss` */
  expireTime: optional(z.string()),
  productInfo: optional(z.array(ProductInfo)),
  extendParams: optional(z.array(ExtendParam)),
  /** list-price amount (an amount despite the name); empty for reverse orders */
  currency: optional(z.string()),
  currencyAfterDiscount: optional(z.string()),
});
export type OrderLine = z.infer<typeof OrderLine>;

export const OrderInfo = z.object({
  orderId: z.string(),
  orderType: lenientString<OrderType>(),
  /** `yyyyMMddHHmmss` */
  createTime: optional(z.string()),
  orderLine: z.array(OrderLine),
  buyerInfo: optional(BuyerInfo),
  extendParams: optional(z.array(ExtendParam)),
});
export type OrderInfo = z.infer<typeof OrderInfo>;

/** The line with `orderLineId`, or the first line when no id is given; `undefined` if there is none. */
export function findOrderLine(order: OrderInfo, orderLineId?: string): OrderLine | undefined {
  return orderLineId === undefined
    ? order.orderLine[0]
    : order.orderLine.find((line) => line.orderLineId === orderLineId);
}

/**
 * The line a call that names only the order means (V1): the first line whose product matches `productId`
 * (and `skuCode` when given), else the order's only line; `undefined` when neither.
 */
export function findOrderLineByProduct(order: OrderInfo, productId?: string, skuCode?: string): OrderLine | undefined {
  const matches = (line: OrderLine) =>
    (productId !== undefined || skuCode !== undefined) &&
    (line.productInfo ?? []).some((p) => (productId === undefined || p.productId === productId) && (skuCode === undefined || p.skuCode === skuCode));
  return order.orderLine.find(matches) ?? (order.orderLine.length === 1 ? order.orderLine[0] : undefined);
}
