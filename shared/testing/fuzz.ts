/**
 * What the fuzz suites share: watching a run (the store's DynamoDB requests, so a refusal can be shown
 * to have written nothing, and unhandled rejections, of which there must be none) and sending to an
 * internal route with the checks every answer must pass.
 */
import { expect } from 'vitest';
import { probeRuntime, writeRoundTrips, type DynamoProbe } from './dynamoProbe.ts';
import { internalEvent, type InternalRequest } from './apiEvents.ts';
import { invoke, type Answer } from './harness.ts';

export interface FuzzWatch {
  probe: DynamoProbe;
  /** unhandled rejections seen since the watch started */
  rejections: unknown[];
  /** whether anything was written since the probe's last reset */
  wrote(): boolean;
  stop(): void;
}

/** Starts watching (call after startHarness, in beforeAll); `stop()` in afterAll. */
export async function watchFuzzRun(): Promise<FuzzWatch> {
  const probe = await probeRuntime();
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown) => void rejections.push(reason);
  process.on('unhandledRejection', onRejection);
  return {
    probe,
    rejections,
    wrote: () => writeRoundTrips(probe.counts()) > 0,
    stop() {
      process.off('unhandledRejection', onRejection);
      probe.remove();
    },
  };
}

/**
 * Sends one request to an internal route and checks what every answer must be: below 500, one of the
 * statuses the routes use, JSON, and when refused a message and no write.
 */
export async function sendInternal(watch: FuzzWatch, handler: Parameters<typeof invoke>[0], request: InternalRequest): Promise<Answer> {
  watch.probe.reset();
  const answer = await invoke(handler, internalEvent(request));
  expect(answer.status, answer.raw).toBeLessThan(500);
  expect([200, 400, 404, 409], answer.raw).toContain(answer.status);
  expect(answer.headers['Content-Type']).toBe('application/json');
  if (answer.status !== 200) {
    expect(typeof answer.json.error, answer.raw).toBe('string');
    expect(answer.json.error.length).toBeGreaterThan(0);
    expect(watch.wrote(), `${answer.status} ${answer.raw} wrote`).toBe(false);
  }
  return answer;
}
