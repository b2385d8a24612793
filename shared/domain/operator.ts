/** What an operator may see of an instance: everything but secrets, plus its recent calls. */
import type { Services } from './call.ts';

export async function describeInstance(svc: Services, instanceId: string) {
  const instance = await svc.store.getInstance(instanceId);
  if (!instance) return undefined;
  const { appInfo, buyer, ...rest } = instance;
  return {
    ...rest,
    appInfo: appInfo && { ...appInfo, password: appInfo.password === undefined ? undefined : '********' },
    // personal data stays sealed in the table; the operator sees that it exists, not what it is
    buyer: buyer && { customerId: buyer.customerId, hasMobilePhone: Boolean(buyer.mobilePhone), hasEmail: Boolean(buyer.email) },
    // metered instances: the meter (a usage-stop package that is not serving shows `package.stoppedAt`)
    meter: await svc.store.getMeter(instanceId),
    notifications: await svc.store.notifications(instanceId),
    history: await svc.store.history(instanceId, 50),
  };
}
