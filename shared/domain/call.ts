/** What every domain operation receives: who is calling and the services it may use. */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LicenseClient, MarketplaceClient } from '#shared/openapi/client';
import type { ResultCode } from '#shared/protocol/resultCodes';
import type { Alerts } from './alerts.ts';
import type { Catalogue } from './catalogue.ts';
import type { LicenseSigner } from './licenseSigner.ts';
import type { OnlineLicenseRepository } from './onlineLicenseRepository.ts';
import type { LicenseRepository } from './licenseCodes.ts';
import type { Notifier } from './notifier.ts';
import type { Provisioner } from './provisioner.ts';
import type { InstanceTimerPolicy, ReleaseMode } from './timers.ts';
import type { CallReceipt, InboundRequest, Repository } from './repository.ts';

export interface Services {
  store: Repository;
  /** License 2.0 authorization codes (shared/storage/licenses.ts) */
  licenses: LicenseRepository;
  /** the open APIs: query order, usage push, License codes and uploads */
  marketplace: MarketplaceClient & LicenseClient;
  /** the product's provisioner (production calls) */
  provisioner: Provisioner;
  /** the built-in one, used for console debug calls (testFlag=1) so they never reach the product */
  debugProvisioner: Provisioner;
  logger: Logger;
  alerts: Alerts;
  notifier: Notifier;
  catalogue: Catalogue;
  settings: DomainSettings;
  /** online License (spec 3.12): the License records (claims, deliveries) */
  onlineLicenses: OnlineLicenseRepository;
  /** the product's License signer (shared/product/licenseSigner.ts) */
  licenseSigner: LicenseSigner;
}

export interface DomainSettings {
  /** how long newInstance waits for the provisioner before answering 000004 (ms) */
  provisionBudgetMs: number;
  /** how long the resume job lets one provisioning attempt run (ms) */
  resumeBudgetMs: number;
  /** delay before an unfinished provisioning is picked up again (ms) */
  provisionRetryDelayMs: number;
  /** attempts before an instance is marked FAILED */
  maxProvisionAttempts: number;
  /** how long after its first claim a provisioning that has not finished alerts (ms, default 2 h) */
  provisioningWatchMs: number;
  /** expiry grace and retention (also given to storage, which derives the timers from them) */
  timers: InstanceTimerPolicy;
  /** resourceRelease releases, or only reports */
  releaseMode: ReleaseMode;
  /** items a job handles at once */
  jobConcurrency: number;
  /** items a job takes from the index per run */
  jobBatchLimit: number;
}

/** One verified inbound call. */
export interface Call {
  activity: string;
  nonce: string;
  receivedAt: Date;
  testFlag: boolean;
  /** epoch ms by which the answer must be on its way (the marketplace waits 5 s) */
  deadline: number;
  /** the request as received (routes only): its receipt keeps it if the answer is a failure (redrive) */
  request?: InboundRequest;
}

/** The JSON body answered to the marketplace. */
export type Reply = { resultCode: ResultCode; resultMsg: string } & Record<string, unknown>;

export const receiptOf = (
  call: Call,
  reply: Reply,
  subject: Pick<CallReceipt, 'instanceId' | 'orderId' | 'orderLineId'> = {},
): CallReceipt => ({
  nonce: call.nonce,
  receivedAt: call.receivedAt,
  activity: call.activity,
  testFlag: call.testFlag,
  resultCode: reply.resultCode,
  resultMsg: reply.resultMsg,
  ...subject,
  ...(call.request ? { request: call.request } : {}),
});
