/**
 * Keeping the calls we answer with a failure, for redrive (`npm run ops -- redrive <id>`). A route
 * wraps the verified request as an InboundRequest (sealed only if it is kept) and hands it on:
 * - with the Call, so the receipt of a failure keeps it in the same transaction (shared/storage/receipts.ts);
 * - on the event, so that an internal error (000005: nothing, or not all, was recorded) is kept here by
 *   one conditional put after the answer is decided (the call's own transaction may have kept it first).
 * Refusals of bad input before anything was written (000002 from the route) are not kept: the same
 * request is refused the same way. The request is never logged.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { createSealer, type Sealer } from '#shared/crypto/sealer';
import type { Reply } from '#shared/domain/call';
import type { CallReceipt, InboundRequest } from '#shared/domain/repository';
import { ResultCode } from '#shared/protocol/resultCodes';
import { getRuntime, logger, type Runtime } from '#shared/runtime';
import type { Secrets } from '#shared/secrets';
import { createTable, type ServiceTable } from '#shared/storage/entities';
import { keepFailedCall, MAX_SEALED_REQUEST } from '#shared/storage/failedCallEntities';
import { replyForError } from './marketplaceResponse.ts';
import type { SignedEvent } from './verifySignature.ts';

/** What the route knows of a verified call, for the FailedCall of an internal error. */
export type PendingCall = Omit<CallReceipt, 'resultCode' | 'resultMsg' | 'request'> & { request: InboundRequest };

export type KeepingEvent = SignedEvent & { pending?: PendingCall };

/** How long the put of an internal error may hold the answer back. */
const KEEP_TIMEOUT_MS = 400;

const sealers = new WeakMap<Secrets, Sealer>();
const tables = new WeakMap<Runtime, ServiceTable>();

/** The request of a verified call: sealed with the data key the first time it is kept, never before. */
export function inboundRequest(runtime: Pick<Runtime, 'settings' | 'secrets'>, route: string, payload: string | undefined): InboundRequest {
  const { secrets, settings } = runtime;
  let sealed: string | undefined | null = null;
  return {
    route,
    keepSeconds: settings.failedCallTtlDays * 86_400,
    sealed() {
      if (sealed !== null) return sealed;
      sealed = undefined;
      if (payload === undefined || payload.length > MAX_SEALED_REQUEST) return sealed;
      try {
        let sealer = sealers.get(secrets);
        if (!sealer) sealers.set(secrets, (sealer = createSealer(secrets.dataKeys)));
        sealed = sealer.seal(payload);
      } catch {
        // no data key: kept without its request (not redrivable) rather than failing the call's receipt
      }
      return sealed;
    },
  };
}

/** The API Gateway route of an event (`/produce`, `/license`, `/produce/v1`, `/produceAPI/v2/tenantSync`…). */
export const routeOf = (event: SignedEvent, fallback: string) => event.resource || event.path || fallback;

async function keep(event: KeepingEvent, reply: Reply): Promise<void> {
  const pending = event.pending;
  if (!pending || !event.verified || reply.resultCode !== ResultCode.INTERNAL_ERROR) return;
  try {
    await put(pending, reply);
  } catch {
    logger.warn('failed call could not be kept for redrive', { resultCode: reply.resultCode });
  }
}

async function put(pending: PendingCall, reply: Reply): Promise<void> {
  const runtime = await getRuntime();
  let table = tables.get(runtime);
  if (!table) tables.set(runtime, (table = createTable(runtime.documentClient, runtime.settings.tableName)));
  const outcome = await keepFailedCall(table, { ...pending, resultCode: reply.resultCode, resultMsg: reply.resultMsg }, KEEP_TIMEOUT_MS);
  if (outcome === 'kept') logger.info('failed call kept for redrive', { resultCode: reply.resultCode });
  else if (outcome === 'unavailable') logger.warn('failed call could not be kept for redrive', { resultCode: reply.resultCode });
}

/** middy middleware, between marketplaceResponse and the verification: keeps internal errors (see above). */
export function keepFailures(): MiddlewareObj<KeepingEvent, APIGatewayProxyResult> {
  return {
    after: async (request) => keep(request.event, request.response as unknown as Reply),
    onError: async (request) => {
      await keep(request.event, replyForError(request.error));
    },
  };
}
