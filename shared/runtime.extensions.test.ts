/**
 * The runtime's optional parts (shared/runtime.ts): a function that did not import the module adding a
 * part is told which one when it reaches for it; importing the module adds it to the runtime already built.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from './runtime.ts';
import { startHarness, type Harness } from './testing/harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

describe('runtime extensions', () => {
  it('a part not imported fails loudly, naming its module; importing it later adds it', async () => {
    const runtime = await getRuntime();
    expect(() => runtime.services.licenses).toThrow("licenses is not part of this function: import '#shared/runtime/licensing' where it is used");
    expect(() => runtime.kit).toThrow("kit is not part of this function: import '#shared/runtime/joint' where it is used");
    await import('./runtime/joint.ts');
    const again = await getRuntime();
    expect(again).toBe(runtime);
    expect(typeof again.kit.tenancy.tenant).toBe('function');
    expect(again.sso.tenancy).toBe(again.kit.tenancy);
    expect(() => again.services.onlineLicenses).toThrow(/runtime\/licensing/);
  });
});
