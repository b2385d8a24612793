/**
 * The provisioner port (implemented in shared/provisioning and by the product in shared/product): where the merchant's own product creates, changes and deletes tenants.
 *
 * Contract (README "Plugging in your product"):
 * - `provision` creates the tenant of one order line and returns how the buyer reaches it. It must be
 *   idempotent per order line (`orderId` + `orderLineId`): the marketplace resends newInstance, and a
 *   provisioning that outlived the 5 s answer budget is resumed by the `resumeProvisioning` job, so the
 *   same order line may be provisioned more than once and must yield the same tenant.
 * - Throw `ProvisioningError` with a marketplace result code (000100–000107) for a refusal the buyer
 *   should see (e.g. 000106 sold out); `permanent: true` stops further attempts. Any other error is
 *   treated as transient and retried.
 * - A product that provisions in its own time returns `ACCEPTED` instead (the asynchronous provisioner,
 *   PROVISIONER=async): the instance stays PROVISIONING (newInstance and queryInstance answer 000004)
 *   until the product posts the app info to `POST /internal/instances/{instanceId}/ready`
 *   (completeFromProduct in provisioning.ts); the request is handed over again only after
 *   `resendAfterMs` without an answer (PROVISIONER_ASYNC_RESEND_MINUTES), not every minute.
 * - `onLifecycle` is told of every committed change (renewed, frozen, unfrozen, upgraded, released…)
 *   after it is stored; it must be idempotent too. A failure there is logged and does not change the
 *   answer to the marketplace (the state is already recorded).
 */
import type { OrderInfo, OrderLine } from '#shared/openapi/order';
import { ResultCode } from '#shared/protocol/resultCodes';
import type { AppInfo, Instance } from './instance.ts';
import type { LifecycleEvent, LifecycleState } from './lifecycle.ts';

export interface ProvisionRequest {
  instanceId: string;
  orderId: string;
  orderLineId: string;
  order: OrderInfo;
  line: OrderLine;
  /** console debug call: create nothing real */
  testFlag: boolean;
  /** 1 for the first attempt */
  attempt: number;
}

export interface LifecycleChange {
  event: LifecycleEvent;
  from: LifecycleState;
  instance: Instance;
}

export interface Provisioner {
  /**
   * `true` when `provision` has no effect outside this service (it only derives how the buyer signs
   * in, like the built-in provisioner): newInstance then provisions before it claims the order line
   * and commits the finished instance in one transaction (one write round trip); concurrent copies of
   * the call may each run `provision`, and only the result of the copy that wins the order line is
   * kept. Leave it unset when `provision` creates anything in your product: the order line is then
   * claimed first, so no copy of the call ever reaches the product twice at once, and the outcome is
   * a second write.
   */
  readonly sideEffectFree?: boolean;
  /** the tenant's app info, or `ACCEPTED`: the product took the request and answers later (ready route) */
  provision(request: ProvisionRequest, signal: AbortSignal): Promise<AppInfo | Accepted>;
  onLifecycle?(change: LifecycleChange): Promise<void>;
}

/**
 * `provision`'s answer when the product took the request and will post the app info later (ready
 * route). The request is handed over again only if no answer came after `resendAfterMs` (default
 * DEFAULT_RESEND_AFTER_MS; never sooner than the retry delay of a failed attempt).
 */
export interface Accepted {
  readonly accepted: true;
  readonly resendAfterMs?: number;
}
export const DEFAULT_RESEND_AFTER_MS = 3_600_000;
export const accepted = (resendAfterMs?: number): Accepted => Object.freeze({ accepted: true, ...(resendAfterMs !== undefined ? { resendAfterMs } : {}) });
export const isAccepted = (answer: AppInfo | Accepted): answer is Accepted => (answer as Partial<Accepted>).accepted === true;

/** the marketplace codes a product may refuse a purchase with */
export const REFUSAL_CODES = [
  ResultCode.NO_RESOURCE,
  ResultCode.MOBILE_INVALID,
  ResultCode.EMAIL_INVALID,
  ResultCode.ALREADY_PURCHASED,
  ResultCode.PRODUCT_ERROR,
  ResultCode.BENEFIT_ALREADY_USED,
  ResultCode.SOLD_OUT,
  ResultCode.EMAIL_DOMAIN_EXISTS,
] as const;
export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
  constructor(
    message: string,
    readonly code: ResultCode,
    readonly permanent = false,
  ) {
    super(message);
  }
}
