import type { ResultCode } from '#shared/protocol/resultCodes';

/** A request refused in the marketplace's own terms (result code + message), never a 5xx. */
export class MarketplaceError extends Error {
  override readonly name = 'MarketplaceError';
  constructor(
    readonly resultCode: ResultCode,
    message: string,
  ) {
    super(message);
  }
}
