/** The service's one Powertools logger (structured JSON; level from POWERTOOLS_LOG_LEVEL). */
import { Logger } from '@aws-lambda-powertools/logger';

export const SERVICE_NAME = 'koogallery-merchant';
export const logger = new Logger({ serviceName: SERVICE_NAME });
