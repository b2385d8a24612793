import { createProduceHandler } from '#shared/http/produceRoute';
import { changeInstanceCheck } from '../changeInstanceCheck/callback.ts';
import { newInstance } from '../newInstance/callback.ts';
import { orderNotify } from '../orderNotify/callback.ts';
import { queryInstance } from '../queryInstance/callback.ts';
import { refreshInstance } from '../refreshInstance/callback.ts';
import { releaseInstance } from '../releaseInstance/callback.ts';
import { updateInstanceStatus } from '../updateInstanceStatus/callback.ts';
import { upgradeInstance } from '../upgradeInstance/callback.ts';

/** The SaaS V2 production URL: every activity, one signature check, no Lambda-to-Lambda hop. */
export const handler = createProduceHandler([
  newInstance,
  queryInstance,
  refreshInstance,
  updateInstanceStatus,
  releaseInstance,
  upgradeInstance,
  changeInstanceCheck,
  orderNotify,
]);
