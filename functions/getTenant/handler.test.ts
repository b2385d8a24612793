/**
 * The Kit sample events (events/<sync>.json, signed afresh as `npm run invoke` does) run through their
 * own functions, then the operator reads the tenant they built.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRuntime } from '#shared/runtime';
import { invoke, startHarness, type Harness } from '#shared/testing/harness';
import { internalEvent } from '#shared/testing/apiEvents';
import { merchantKeyPair } from '#shared/testing/kitCalls';
import { sampleEvent } from '#shared/testing/samples';
import { SAMPLE_CLIENT_SECRET } from '../../scripts/invoke.ts';
import { handler as allOrgSync } from '../allOrgSync/handler.ts';
import { handler as applicationSync } from '../applicationSync/handler.ts';
import { handler as authSync } from '../authSync/handler.ts';
import { handler as singleOrgSync } from '../singleOrgSync/handler.ts';
import { handler as tenantSync } from '../tenantSync/handler.ts';
import { handler } from './handler.ts';

const TENANT = '68cbc86abc2018ab880d92f36422fa0e';
const keys = merchantKeyPair();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ KOOGALLERY_KIT_PRIVATE_KEY: keys.privateKey });
});
afterAll(() => h.close());

describe('Kit sample events and GET /internal/tenants/{tenantId}', () => {
  it('every Kit sample answers 000000 through its own function', async () => {
    const samples = { tenantSync, applicationSync, allOrgSync, singleOrgSync, authSync };
    let at = Date.now();
    for (const [name, fn] of Object.entries(samples)) {
      // each sample a millisecond later than the one before: they are ordered by their timeStamp
      const answer = await invoke(fn as never, sampleEvent(name, new Date((at += 5)), keys.publicKey));
      expect(answer.json, name).toEqual({ resultCode: '000000', resultMsg: 'Success' });
    }
    expect((await (await getRuntime()).kit.tenancy.application(TENANT, 'sample-app'))?.clientSecret).toBe(SAMPLE_CLIENT_SECRET);
  });

  it('shows the tenant, its application with user counts, and the department tree, without secrets or contact data', async () => {
    const answer = await invoke(handler as never, sampleEvent('getTenant'));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      tenantId: TENANT,
      tenantCode: 'acme',
      name: 'ACME Ltd',
      status: 'active',
      applications: [{ appId: 'sample-app', clientId: 'sample-client', status: 'active', hasClientSecret: true, users: { active: 2, disabled: 0, revoked: 0, deleted: 0 } }],
      departments: {
        count: 3,
        deleted: 0,
        detached: [],
        tree: [
          {
            orgCode: 'HQ',
            orgName: 'Head office',
            children: [
              { orgCode: 'HQ-DEV', orgName: 'Development', children: [] },
              { orgCode: 'HQ-OPS', orgName: 'Operations', children: [] },
            ],
          },
        ],
      },
    });
    expect(answer.raw).not.toMatch(/sample-client-secret|clientSecretSealed|admin@acme/);
  });

  it('404 for an unknown tenant, 400 for an id no tenant can have', async () => {
    const get = (tenantId: string) => invoke(handler as never, internalEvent({ method: 'GET', resource: '/internal/tenants/{tenantId}', pathParameters: { tenantId } }));
    expect((await get('no-such-tenant')).status).toBe(404);
    expect((await get('x'.repeat(65))).status).toBe(400);
  });
});
