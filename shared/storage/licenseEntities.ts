/**
 * License 2.0 code entities, in the same table (schema first, dynamodb-toolbox). Key layout:
 *
 * | entity       | pk              | sk                  | notes                                            |
 * |--------------|-----------------|---------------------|--------------------------------------------------|
 * | License      | LICENSE#<code>  | LICENSE             | state, marketplace facts, heartbeat day; version |
 * | Call (audit) | LICENSE#<code>  | CALL#<time>#<nonce> | the callbacks naming the code (entities.ts)      |
 *
 * Every write of a License is a put conditioned on the version read (or on absence when created).
 */
import { Entity } from 'dynamodb-toolbox/entity';
import { item } from 'dynamodb-toolbox/schema/item';
import { list } from 'dynamodb-toolbox/schema/list';
import { number } from 'dynamodb-toolbox/schema/number';
import { string } from 'dynamodb-toolbox/schema/string';
import type { ServiceTable } from './entities.ts';

export const licensePk = (code: string) => `LICENSE#${code}`;

const optionalString = () => string().optional();

export function createLicenseEntities(table: ServiceTable) {
  const LicenseEntity = new Entity({
    name: 'License',
    table,
    timestamps: false,
    schema: item({
      code: string().key(),
      state: string().enum('ACTIVE', 'FROZEN', 'RELEASED'),
      registeredBy: string().enum('activation', 'heartbeat'),
      marketStatus: optionalString(),
      activatedAt: optionalString(),
      expireTime: optionalString(),
      expireSource: string().enum('activation', 'refresh', 'heartbeat').optional(),
      productId: optionalString(),
      orderId: optionalString(),
      amount: number().optional(),
      frozenAt: optionalString(),
      unfrozenAt: optionalString(),
      unfreezeHeldAt: optionalString(),
      releasedAt: optionalString(),
      releaseOrderId: optionalString(),
      appliedOps: list(string()),
      heartbeatDay: optionalString(),
      claimToken: optionalString(),
      claimUntil: optionalString(),
      checkedAt: optionalString(),
      createdAt: string(),
      updatedAt: string(),
      version: number(),
    }),
    computeKey: ({ code }) => ({ pk: licensePk(code), sk: 'LICENSE' }),
  });
  return { LicenseEntity };
}
export type LicenseEntities = ReturnType<typeof createLicenseEntities>;
