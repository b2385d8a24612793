/**
 * middy middleware: turns the domain Reply into the marketplace's HTTP answer (always 200, JSON,
 * Body-Sign header, spec 2.4) and every error into a result code — never a 5xx or a stack trace.
 */
import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyResult } from 'aws-lambda';
import type { Reply } from '#shared/domain/call';
import { errorName } from '#shared/domain/errors';
import { ConcurrencyError } from '#shared/domain/instances';
import { OpenApiError } from '#shared/openapi/client';
import { ResultCode } from '#shared/protocol/resultCodes';
import { bodySignHeader } from '#shared/protocol/signature';
import { getRuntime, logger } from '#shared/runtime';
import type { Secrets } from '#shared/secrets';
import { NonceReplayError } from '#shared/domain/repository';
import { MarketplaceError } from './errors.ts';
import type { SignedEvent } from './verifySignature.ts';

/** JSON with every non-ASCII character as a \uXXXX escape (Huawei asks this of `memo`; valid JSON for all). */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function replyForError(error: unknown): Reply {
  if (error instanceof MarketplaceError) return { resultCode: error.resultCode, resultMsg: error.message };
  if (error instanceof NonceReplayError) return { resultCode: ResultCode.AUTH_FAILED, resultMsg: 'nonce already used' };
  if (error instanceof OpenApiError)
    return { resultCode: ResultCode.INTERNAL_ERROR, resultMsg: 'marketplace open API unavailable; please retry' };
  if (error instanceof ConcurrencyError)
    return { resultCode: ResultCode.INTERNAL_ERROR, resultMsg: 'concurrent update; please retry' };
  return { resultCode: ResultCode.INTERNAL_ERROR, resultMsg: 'internal error; please retry' };
}

/** Which of the configured keys sign this interface's answers (default: the V2 basic-interface keys). */
export type SigningKeys = (secrets: Secrets, event: SignedEvent) => readonly string[];

/**
 * The key that verified the request signs the answer (during a key change-over the marketplace checks
 * with the key it signed with); unverified requests are answered with the newest key.
 */
async function signingKey(keysOf: SigningKeys, event: SignedEvent): Promise<string | undefined> {
  try {
    const keys = keysOf((await getRuntime()).secrets, event);
    return keys[event.verified?.keyIndex ?? 0] ?? keys[0];
  } catch {
    return undefined; // configuration broken: answer unsigned rather than not at all
  }
}

/** `resultMsg` is at most 255 characters (spec 3.0). */
const MAX_MESSAGE = 255;

async function toHttp(reply: Reply, key: string | undefined): Promise<APIGatewayProxyResult> {
  const resultMsg = reply.resultMsg.length > MAX_MESSAGE ? `${reply.resultMsg.slice(0, MAX_MESSAGE - 1)}…` : reply.resultMsg;
  const body = asciiJson({ ...reply, resultMsg });
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json;charset=UTF-8', ...(key ? { 'Body-Sign': bodySignHeader(key, body) } : {}) },
    body,
  };
}

export function marketplaceResponse(keysOf: SigningKeys = (secrets) => secrets.accessKeys): MiddlewareObj<SignedEvent, APIGatewayProxyResult> {
  return {
    after: async (request) => {
      const reply = request.response as unknown as Reply;
      logger.info('answered', { resultCode: reply.resultCode });
      request.response = await toHttp(reply, await signingKey(keysOf, request.event));
    },
    onError: async (request) => {
      const reply = replyForError(request.error);
      const level = reply.resultCode === ResultCode.INTERNAL_ERROR ? 'error' : 'warn';
      logger[level]('refused', { resultCode: reply.resultCode, error: errorName(request.error) });
      request.response = await toHttp(reply, await signingKey(keysOf, request.event));
    },
  };
}
