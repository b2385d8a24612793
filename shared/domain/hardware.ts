/**
 * Hardware orders (business rules 1.4, 1.7 T1): the supervision record is opened by orderNotify for a
 * catalogue "hardware" product; operators record the shipment, the sign-off and the buyer's manual
 * accept / reject / appeal through internal routes; the hardwareAutoAccept job accepts signed-for
 * parcels after 10 days when the waybill phone matches, and otherwise reminds the buyer once a day.
 */
import type { Services } from './call.ts';
import { raiseQuietly } from './alerts.ts';
import { safeReason } from './errors.ts';
import { combineSummaries, jobReceipt, runDueJob, type JobSummary } from './jobs.ts';
import type { DueRef } from './repository.ts';
import {
  AUTO_ACCEPT_AFTER_MS,
  COMPLETION_LAG_MS,
  decideSupervision,
  maskPhone,
  phonesMatch,
  REMINDER_INTERVAL_MS,
  REMINDER_RETRY_MS,
  supervisionDue,
  type HardwareOrder,
  type SupervisionEvent,
} from './supervision.ts';
import { after, latest } from './timers.ts';

export type OperatorAnswer = { status: 200; body: unknown } | { status: 400 | 404 | 409; body: { error: string } };

const MAX_ATTEMPTS = 5;
const problem = (status: 400 | 404 | 409, error: string): OperatorAnswer => ({ status, body: { error } });

/** An order line as an operator sees it: phones masked, never shown in full. */
export function hardwareView(order: HardwareOrder) {
  const { buyerPhone, waybillPhone, ...rest } = order;
  const due = supervisionDue(order);
  return {
    ...rest,
    buyerPhone: maskPhone(buyerPhone),
    waybillPhone: maskPhone(waybillPhone),
    ...(due?.kind === 'ACCEPT' ? { autoAcceptAt: due.at } : {}),
    ...(due?.kind === 'REMIND' ? { autoAccept: 'never: the waybill phone differs from the buyer’s; remind the buyer to accept' } : {}),
  };
}

/** `GET /internal/orders/{orderId}` */
export async function describeHardwareOrder(svc: Services, orderId: string): Promise<OperatorAnswer> {
  const { lines, notifications } = await svc.store.describeOrder(orderId);
  if (lines.length === 0) return problem(404, `no supervised (hardware) order line for order ${orderId}`);
  return { status: 200, body: { orderId, lines: lines.map(hardwareView), notifications } };
}

export interface ShipmentInput {
  orderLineId?: string;
  carrier: string;
  trackingNumber: string;
  waybillPhone: string;
  shippedAt?: Date;
}

export function recordShipment(svc: Services, orderId: string, input: ShipmentInput, now: Date) {
  return operatorChange(svc, orderId, input.orderLineId, 'SHIP', now, 'operator:shipment', (order) => ({
    carrier: input.carrier,
    trackingNumber: input.trackingNumber,
    waybillPhone: input.waybillPhone,
    phoneMatch: phonesMatch(order.buyerPhone, input.waybillPhone),
    shippedAt: (input.shippedAt ?? now).toISOString(),
    // a new shipment starts the parcel's story again (the last reminder's time is kept: at most one a day)
    signedAt: undefined,
    nextReminderAt: undefined,
    remindersSent: 0,
    reminderFailures: 0,
    stateReason: `shipped with ${input.carrier}`,
  }));
}

export function recordSignOff(svc: Services, orderId: string, input: { orderLineId?: string; signedAt?: Date }, now: Date) {
  const signedAt = (input.signedAt ?? now).toISOString();
  if (signedAt > now.toISOString()) return Promise.resolve(problem(400, 'signedAt is in the future'));
  return operatorChange(svc, orderId, input.orderLineId, 'SIGN', now, 'operator:sign-off', (order) => ({
    signedAt,
    // a mismatched phone: the first reminder is due at once, then at most once a day (a corrected
    // sign-off time does not bring the next reminder forward)
    nextReminderAt: order.phoneMatch ? undefined : latest(signedAt, order.lastReminderAt && after(order.lastReminderAt, REMINDER_INTERVAL_MS)),
    stateReason: order.phoneMatch
      ? `signed for; accepted automatically at ${after(signedAt, AUTO_ACCEPT_AFTER_MS)} unless the buyer acts`
      : 'signed for, but the waybill phone differs from the buyer’s: never accepted automatically',
  }));
}

export type AcceptanceAction = 'accept' | 'reject' | 'appeal';

export function recordAcceptance(svc: Services, orderId: string, input: { orderLineId?: string; action: AcceptanceAction; at?: Date; note?: string }, now: Date) {
  const at = (input.at ?? now).toISOString();
  const event: SupervisionEvent = input.action === 'accept' ? 'ACCEPT' : input.action === 'reject' ? 'REJECT' : 'APPEAL';
  return operatorChange(svc, orderId, input.orderLineId, event, now, `operator:${input.action}`, (order) => {
    const note = input.note ? `: ${input.note.slice(0, 200)}` : '';
    if (event === 'ACCEPT') return { acceptedAt: at, acceptedBy: 'buyer', expectedCompletedBy: after(at, COMPLETION_LAG_MS), stateReason: `accepted by the buyer${note}` };
    if (event === 'REJECT') return { rejectionCount: order.rejectionCount + 1, stateReason: `rejected by the buyer${note}` };
    return { appealedAt: at, stateReason: `appeal opened${note}` };
  });
}

async function operatorChange(
  svc: Services,
  orderId: string,
  orderLineId: string | undefined,
  event: SupervisionEvent,
  now: Date,
  activity: string,
  change: (order: HardwareOrder) => Partial<HardwareOrder>,
): Promise<OperatorAnswer> {
  let lineId = orderLineId;
  if (!lineId) {
    const { lines } = await svc.store.describeOrder(orderId);
    if (lines.length === 0) return problem(404, `no supervised (hardware) order line for order ${orderId}`);
    if (lines.length > 1) return problem(400, `order ${orderId} has ${lines.length} supervised lines: give orderLineId`);
    lineId = lines[0]!.orderLineId;
  }
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const order = await svc.store.getHardwareOrder(orderId, lineId);
    if (!order) return problem(404, `no supervised (hardware) order line ${lineId} in order ${orderId}`);
    const decision = decideSupervision(order.state, event);
    if (decision.kind === 'refuse') return problem(409, decision.why);
    if (decision.kind === 'noop') return { status: 200, body: { ...hardwareView(order), note: decision.why } };
    const next: HardwareOrder = { ...order, ...change(order), state: decision.to, updatedAt: now.toISOString() };
    const saved = await svc.store.saveHardwareOrder(next, order.version, jobReceipt(activity, now, next.stateReason ?? activity, subjectOf(order)));
    if (saved) return { status: 200, body: hardwareView(saved) };
  }
  throw new Error(`hardware order ${orderId}/${lineId} kept changing`);
}

const subjectOf = (o: HardwareOrder) => ({ orderId: o.orderId, orderLineId: o.orderLineId, testFlag: o.testFlag });

/**
 * hardwareAutoAccept: signed-for parcels 10 days on with a matching phone are accepted; mismatched
 * ones get a reminder to the buyer (at most once a day) and, the first time, an operator alert.
 */
export async function autoAcceptHardware(svc: Services, now: Date, timeLeftMs?: () => number): Promise<JobSummary> {
  const accepted = await runDueJob(svc, { job: 'hardwareAutoAccept', kind: 'ACCEPT', now, timeLeftMs, handle: (item) => acceptOne(svc, item, now) });
  const reminded = await runDueJob(svc, { job: 'hardwareAutoAccept', kind: 'REMIND', now, timeLeftMs, handle: (item) => remindOne(svc, item, now) });
  return combineSummaries(accepted, reminded);
}

/** Re-reads the line and applies `next` if the timer is still due, conditional on the version read. */
/** `next` returns undefined when the table says the event changes nothing: then nothing is written. */
async function claimDue(
  svc: Services,
  item: DueRef,
  kind: 'ACCEPT' | 'REMIND',
  now: Date,
  next: (o: HardwareOrder) => HardwareOrder | undefined,
  activity: string,
) {
  const order = await svc.store.getHardwareOrder(item.orderId!, item.orderLineId!);
  const due = order && supervisionDue(order);
  if (!order || due?.kind !== kind || due.at > now.toISOString()) return undefined;
  const changed = next(order);
  if (!changed) return undefined;
  const saved = await svc.store.saveHardwareOrder(changed, order.version, jobReceipt(activity, now, changed.stateReason ?? activity, subjectOf(order)));
  return saved && { before: order, after: saved };
}

async function acceptOne(svc: Services, item: DueRef, now: Date) {
  const claimed = await claimDue(
    svc,
    item,
    'ACCEPT',
    now,
    (o) => {
      const decision = decideSupervision(o.state, 'AUTO_ACCEPT');
      if (decision.kind !== 'apply') return undefined;
      return {
        ...o,
        state: decision.to,
        acceptedAt: now.toISOString(),
        acceptedBy: 'auto',
        expectedCompletedBy: after(now.toISOString(), COMPLETION_LAG_MS),
        stateReason: `accepted automatically 10 days after sign-off (${o.signedAt}); the platform should show COMPLETED within 3 h`,
        updatedAt: now.toISOString(),
      };
    },
    'hardwareAutoAccept',
  );
  if (!claimed) return 'skipped' as const;
  svc.logger.info('hardware order accepted automatically', { orderId: claimed.after.orderId, orderLineId: claimed.after.orderLineId });
  return 'done' as const;
}

async function remindOne(svc: Services, item: DueRef, now: Date) {
  const claimed = await claimDue(
    svc,
    item,
    'REMIND',
    now,
    (o) => ({
      ...o,
      remindersSent: o.remindersSent + 1,
      lastReminderAt: now.toISOString(),
      nextReminderAt: after(now.toISOString(), REMINDER_INTERVAL_MS),
      updatedAt: now.toISOString(),
    }),
    'hardwareAutoAccept:remind',
  );
  if (!claimed) return 'skipped' as const;
  const { after: order } = claimed;
  const subject = { orderId: order.orderId, orderLineId: order.orderLineId };
  // the operator hears of the mismatch once, whether or not the reminder gets through
  if (order.remindersSent === 1 && !order.reminderFailures)
    await raiseQuietly(svc.alerts, svc.logger, {
      kind: 'hardware-phone-mismatch',
      subject,
      message: 'signed for, but the waybill phone differs from the buyer’s: the platform will not accept automatically; the buyer is reminded daily',
    });
  try {
    await svc.notifier.notifyBuyer({
      kind: 'accept-reminder',
      to: { mobilePhone: order.buyerPhone },
      subject,
      message: `Your order ${order.orderId} was delivered (${order.carrier} ${order.trackingNumber}); please confirm acceptance in the KooGallery buyer center.`,
    });
  } catch (error) {
    // not sent: due again within the hour rather than in a day (the claim made it due in a day)
    const failures = (order.reminderFailures ?? 0) + 1;
    await svc.store.saveHardwareOrder(
      {
        ...order,
        remindersSent: order.remindersSent - 1,
        reminderFailures: failures,
        nextReminderAt: after(now.toISOString(), REMINDER_RETRY_MS),
        stateReason: `reminder failed: ${safeReason(error)}`,
      },
      order.version,
    );
    // the first failure, then once a day while it keeps failing: someone must remind the buyer by hand
    if (failures % 24 === 1)
      await raiseQuietly(svc.alerts, svc.logger, { kind: 'buyer-reminder-failed', subject, message: `the acceptance reminder could not be sent (${failures} failures): ${safeReason(error)}` });
    throw error;
  }
  return 'done' as const;
}


