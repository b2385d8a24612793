/** How an error is named in logs and audit records: its class and message, never its stack or cause. */
export const errorName = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));
