/**
 * Every function in serverless.yml has its sample event in events/, and the samples of the scheduled
 * jobs and internal routes run through their own functions (the callbacks' samples are tested beside
 * each callback).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invoke, startHarness, type Harness } from './harness.ts';
import { sampleEvent } from './samples.ts';
import { loadYaml, scheduledFunctions } from '../../infra/serverlessConfig.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const config = loadYaml('serverless.yml') as { functions: Record<string, { handler: string; events?: Array<Record<string, unknown>> }> };
const functions = Object.entries(config.functions);
const scheduled = scheduledFunctions(config);

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const load = async (name: string) => ((await import(`${root}functions/${name}/handler.ts`)) as { handler: (e: unknown, c: unknown) => Promise<unknown> }).handler;
const context = { getRemainingTimeInMillis: () => 60_000 };

describe('sample events', () => {
  it('every function has one', () => {
    expect(functions.length).toBeGreaterThan(15);
    for (const [name, f] of functions) {
      expect(f.handler).toBe(`functions/${name}/handler.handler`);
      expect(existsSync(`${root}events/${name}.json`), `events/${name}.json`).toBe(true);
    }
  });

  it.each(scheduled)('%s runs its sample as of the sample time and reports its counts', async (name) => {
    const summary = (await (await load(name))(sampleEvent(name), context)) as Record<string, unknown>;
    expect(summary).toMatchObject({ due: expect.any(Number), failed: 0 });
    expect(summary.now ?? summary.due).toBeDefined();
  });

  it('the stream sample (publishEvents) becomes its integration event', async () => {
    const { useSink } = (await import(`${root}functions/publishEvents/handler.ts`)) as typeof import('../../functions/publishEvents/handler.ts');
    const published: string[] = [];
    useSink({ publish: async (events) => (published.push(...events.map((e) => e.id)), { failedIds: [] }) });
    try {
      expect(await (await load('publishEvents'))(sampleEvent('publishEvents'), context)).toEqual({ batchItemFailures: [] });
    } finally {
      useSink(undefined);
    }
    expect(published).toEqual(['instance/sample-instance-0001/v3/instance.frozen']);
  });

  it('the internal routes answer their samples in their own terms, never a 5xx', async () => {
    const usage = await invoke((await load('usage')) as never, sampleEvent('usage'));
    expect(usage.status).toBe(200);
    expect(usage.json.results[0]).toMatchObject({ key: 'sample-usage-0001', outcome: 'refused' });
    const shipment = await invoke((await load('hardwareOrders')) as never, sampleEvent('hardwareOrders'));
    expect(shipment.status).toBe(404);
    expect(shipment.json.error).toMatch(/MOCKHARDWARE/);
  });
});
