/**
 * Captures everything a test run writes to the logs — the Powertools logger's own console
 * (process.stdout / process.stderr) and the global console — and finds named secrets in it.
 */
import { vi } from 'vitest';

const text = (chunk: unknown) => (typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk));

export function startCapture(captured: string[]): void {
  // Powertools Logger prints through its own `new Console({ stdout: process.stdout, stderr: process.stderr })`
  // (the global console only with POWERTOOLS_DEV): both streams and the global console are captured.
  for (const stream of [process.stdout, process.stderr])
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
      captured.push(text(chunk));
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof stream.write);
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const)
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => void captured.push(args.map(text).join(' ')));
}

/** Every secret found in `output`, named (case-insensitive: hex may be printed in either case). */
export function leaksIn(output: string, secrets: ReadonlyMap<string, string>): string[] {
  const haystack = output.toLowerCase();
  return [...secrets].filter(([, value]) => haystack.includes(value.toLowerCase())).map(([what]) => what);
}
