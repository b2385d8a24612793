import * as z from '#shared/zod';
import { checkInstanceChange } from '#shared/domain/instances';
import { defineCallback, fields } from '#shared/http/callback';

/** Target spec: structure unpublished (spec 7.8); read as the order-query ProductInfo, object or list. */
const productInfo = z.object({
  skuCode: z.optional(fields.id()),
  productId: z.optional(fields.id()),
  // z.coerce.number() refuses NaN and ±Infinity by itself
  linearValue: z.optional(z.coerce.number()),
  productName: z.optional(z.string().check(z.maxLength(255))),
});

/** Renewal-change check (spec 3.7). */
export const changeInstanceCheck = defineCallback({
  activity: 'changeInstanceCheck',
  schema: z.object({
    instanceId: fields.id(),
    productInfo: z.union([
      productInfo,
      z.pipe(z.array(productInfo).check(z.minLength(1)), z.transform((list: z.output<typeof productInfo>[]) => list[0]!)),
    ]),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { instanceId, productInfo }) => checkInstanceChange(svc, call, { instanceId, productInfo }),
});
