/**
 * The CloudWatch metrics of the jobs and the event relay (Powertools, embedded metric format), in the
 * stage's namespace (POWERTOOLS_METRICS_NAMESPACE: the alarms in infra/monitoring.yml read it). The
 * callbacks do not carry this code.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SERVICE_NAME } from './logger.ts';

export const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'KooGalleryMerchant', serviceName: SERVICE_NAME });
