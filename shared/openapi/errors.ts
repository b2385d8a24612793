/** The one error every open-API call fails with (shared/openapi/client.ts, ./license.ts). */

/** 'request': refused before anything was sent (missing configuration, invalid arguments) */
export type OpenApiErrorKind = 'network' | 'timeout' | 'http' | 'business' | 'malformed' | 'request';

/** Failure of an open-API call. The message names the API but never contains credentials. */
export class OpenApiError extends Error {
  override readonly name = 'OpenApiError';
  readonly kind: OpenApiErrorKind;
  /** marketplace `resultCode` / `error_code` (business) or gateway `error_code` (http), when present */
  readonly code?: string;
  /** HTTP status, when a response was received */
  readonly status?: number;
  /** what the marketplace said about the failure, e.g. the usage push's `extra_info` (abnormal records); never secrets */
  readonly details?: unknown;

  constructor(
    message: string,
    init: { kind: OpenApiErrorKind; code?: string; status?: number; details?: unknown; cause?: unknown },
  ) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    if (init.code !== undefined) this.code = init.code;
    if (init.status !== undefined) this.status = init.status;
    if (init.details !== undefined) this.details = init.details;
  }
}
