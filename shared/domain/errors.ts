/** How an error of ours is named in logs and audit records: its class and message, never its stack or cause. */
export const errorName = (error: unknown) => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/**
 * The reason of an error raised by code we do not own (the merchant's notifier, a gateway), fit for an
 * audit record or an alert: digit runs that could be phone numbers and e-mail addresses are masked,
 * and it is kept short.
 */
export const safeReason = (error: unknown) =>
  errorName(error)
    .replace(/[\w.+-]+@[\w-]+\.[\w.-]+/g, '<e-mail>')
    .replace(/\+?\d[\d\s-]{6,}\d/g, '<number>')
    .slice(0, 300);

/**
 * How an error raised by the product's own code (its provisioner, its lifecycle hook) is named in logs:
 * its class and result code only. Its message is the product's and may carry anything — a buyer's
 * e-mail, a tenant's password — that no mask could be trusted to catch.
 */
export const foreignErrorName = (error: unknown) => {
  if (!(error instanceof Error)) return `thrown ${typeof error}`;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? `${error.name} (${code})` : error.name;
};
