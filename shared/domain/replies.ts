import { ResultCode } from '#shared/protocol/resultCodes';
import type { Reply } from './call.ts';

export const success = (extra: Record<string, unknown> = {}, resultMsg = 'success.'): Reply => ({
  resultCode: ResultCode.SUCCESS,
  resultMsg,
  ...extra,
});

export const failure = (resultCode: ResultCode, resultMsg: string, extra: Record<string, unknown> = {}): Reply => ({
  resultCode,
  resultMsg,
  ...extra,
});
