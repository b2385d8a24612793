/**
 * The built-in provisioner: it creates no external resource, it derives a tenant login from the order
 * (a random password, a front-end URL from config). It is what a fresh deployment answers the
 * marketplace with, and what console debug calls (testFlag=1) always use, so that a debug call never
 * reaches the real product. Replace it in shared/product/provisioner.ts.
 */
import { randomInt } from 'node:crypto';
import type { Provisioner } from '#shared/domain/provisioner';

export interface DefaultProvisionerOptions {
  /** e.g. `https://app.example.com/t/{instanceId}`; `{instanceId}` and `{customerName}` are replaced */
  frontEndUrl: string;
  adminUrl?: string;
}

const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789';
const SYMBOLS = '!@#$%^&*';

/** 16 characters with upper, lower, digit and symbol (typical tenant password rules). */
export function randomPassword(): string {
  const pick = (set: string) => set[randomInt(set.length)]!;
  const chars = [pick('ABCDEFGHJKLMNPQRSTUVWXYZ'), pick('abcdefghijkmnopqrstuvwxyz'), pick('23456789'), pick(SYMBOLS)];
  while (chars.length < 16) chars.push(pick(ALPHABET));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

export function createDefaultProvisioner(options: DefaultProvisionerOptions): Provisioner {
  const fill = (template: string, values: Record<string, string>) =>
    template.replace(/\{(\w+)\}/g, (whole, name: string) => encodeURIComponent(values[name] ?? whole));
  return {
    // it creates nothing: newInstance may run it before claiming the order line (one write)
    sideEffectFree: true,
    async provision({ instanceId, order, testFlag }) {
      const customerName = order.buyerInfo?.customerName ?? 'tenant';
      const values = { instanceId, customerName };
      return {
        frontEndUrl: fill(options.frontEndUrl, values),
        ...(options.adminUrl ? { adminUrl: fill(options.adminUrl, values) } : {}),
        userName: `admin_${instanceId.replace(/[^A-Za-z0-9]/g, '').slice(0, 12)}`,
        password: randomPassword(),
        memo: testFlag ? 'Debug instance (testFlag=1): no real tenant was created.' : 'Welcome.',
      };
    },
  };
}
