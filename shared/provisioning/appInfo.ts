/**
 * The AppInfo a product answers with (spec 3.2), as zod fields: read from the webhook's answer and from
 * the asynchronous provisioner's ready route, each with its own lengths.
 */
import * as z from '#shared/zod';

const text = (max: number) => z.string().check(z.maxLength(max, `must be at most ${max} characters`));

/** the lengths the marketplace shows (spec 3.2 AppInfo) */
export const MARKETPLACE_APP_INFO_MAX = { url: 512, credential: 128, memo: 1024 } as const;

/** `frontEndUrl` required (not blank), the rest optional; each at most its length. */
export const appInfoFields = (max: { url: number; credential: number; memo: number }) => ({
  frontEndUrl: z.string().check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(max.url, `must be at most ${max.url} characters`)),
  adminUrl: z.optional(text(max.url)),
  userName: z.optional(text(max.credential)),
  password: z.optional(text(max.credential)),
  memo: z.optional(text(max.memo)),
});
