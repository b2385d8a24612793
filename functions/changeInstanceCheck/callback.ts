import * as z from 'zod';
import { checkInstanceChange } from '#shared/domain/instances';
import { defineCallback, fields } from '#shared/http/callback';

/** Target spec: structure unpublished (spec 7.8); read as the order-query ProductInfo, object or list. */
const productInfo = z.object({
  skuCode: fields.id().optional(),
  productId: fields.id().optional(),
  linearValue: z.coerce.number().finite().optional(),
  productName: z.string().max(255).optional(),
});

/** Renewal-change check (spec 3.7). */
export const changeInstanceCheck = defineCallback({
  activity: 'changeInstanceCheck',
  schema: z.object({
    instanceId: fields.id(),
    productInfo: z.union([productInfo, z.array(productInfo).min(1).transform((list) => list[0]!)]),
    testFlag: fields.testFlag,
  }),
  run: (svc, call, { instanceId, productInfo }) => checkInstanceChange(svc, call, { instanceId, productInfo }),
});
