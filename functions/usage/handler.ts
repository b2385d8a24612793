import * as z from '#shared/zod';
import { recordUsage, setPackageSettings } from '#shared/domain/usage';
import { ThresholdSchema } from '#shared/config';
import { fields } from '#shared/http/callback';
import { createInternalHandler, parseJsonBody, pathId } from '#shared/http/internalRoute';

const id = fields.id();
const amount = z
  .number()
  .check(
    z.positive(),
    z.lte(99_999_999),
    z.refine((n) => Math.abs(n * 10_000 - Math.round(n * 10_000)) < 1e-6, 'at most 4 decimals (the marketplace’s Double(12,4))'),
  );
const at = z.pipe(z.iso.datetime({ offset: true }), z.transform((s: string) => new Date(s)));
const Usage = z.strictObject({
  records: z
    .array(z.strictObject({ key: z.string().check(z.trim(), z.minLength(1), z.maxLength(128)), instanceId: id, amount, at: z.optional(at) }))
    .check(z.minLength(1), z.maxLength(100)),
});
const PackageSettings = z.strictObject({ threshold: z.optional(ThresholdSchema), autoRebuy: z.optional(z.boolean()) });

/**
 * Usage reported by the product, IAM-authorised: `POST /internal/usage` (1–100 records, each with its
 * idempotency key) and `POST /internal/instances/{instanceId}/package` (threshold / auto-rebuy).
 */
export const handler = createInternalHandler(async (services, event) => {
  const now = new Date();
  if (event.resource === '/internal/usage') return parseJsonBody(event, Usage, async ({ records }) => ({ status: 200, body: { results: await recordUsage(services, records, now) } }));
  const path = pathId(event, 'instanceId');
  if ('refused' in path) return path.refused;
  return parseJsonBody(event, PackageSettings, async (body) => {
    const outcome = await setPackageSettings(services, path.id, body, now);
    if (!outcome) return { status: 404, body: { error: 'instance not found', instanceId: path.id } };
    if ('error' in outcome) return { status: 409, body: { error: outcome.error } };
    return { status: 200, body: outcome.meter };
  });
});
