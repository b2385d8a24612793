/**
 * A production-interface callback: the activity it answers, the schema of its body and the one domain
 * function it calls. Each lives in functions/<activity>/callback.ts; the produce route and the
 * callback's own Lambda both serve it through createProduceHandler.
 */
import * as z from '#shared/zod';
import type { Call, Reply, Services } from '#shared/domain/call';
import { parseMarketTime } from '#shared/protocol/time';

export interface Callback<S extends z.ZodMiniType = z.ZodMiniType> {
  activity: string;
  schema: S;
  run(services: Services, call: Call, body: z.infer<S>): Promise<Reply>;
}

export const defineCallback = <S extends z.ZodMiniType>(callback: Callback<S>): Callback => callback as unknown as Callback;

/** Field rules shared by the V2 bodies (lengths from spec 3.x; unknown fields are ignored). */
export const fields = {
  id: (max = 64) => z.string().check(z.trim(), z.minLength(1, 'must not be empty'), z.maxLength(max, `must be at most ${max} characters`)),
  /** UTC yyyyMMddHHmmss or yyyyMMddHHmmssSSS (spec 3.3 sends both), parsed to a Date */
  marketTime: () =>
    z.pipe(
      z.string(),
      z.transform((value: string, ctx) => {
        const date = parseMarketTime(value);
        if (!date) ctx.issues.push({ code: 'custom', message: 'must be a UTC time yyyyMMddHHmmss or yyyyMMddHHmmssSSS', input: value });
        return date ?? z.NEVER;
      }),
    ),
  /** "1" = console debug call; production omits it or sends "0" (spec 3.0) */
  testFlag: z.optional(z.union([z.string().check(z.maxLength(2)), z.number().check(z.int())])),
};

export const isDebug = (testFlag: unknown) => testFlag === '1' || testFlag === 1;
