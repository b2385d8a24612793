/**
 * License APIs of the local marketplace emulator (spec 6.3 License 2.0 codes, 6.4 online-License upload): an
 * in-memory code registry with preloaded mock codes, activation (v1 single, v2 batch), query ("heartbeat", v1,
 * counted per code) and the string/file upload. Mounted by ./marketplace.ts, which does the AK/SK check, fault
 * injection and call log; this module only answers authenticated calls.
 *
 * Answers (`error_code` / `error_msg`, HTTP 200; spec 4.2 codes, the choice of code per case is OURS where the spec
 * is silent):
 * - activate v1 `{license, real_effect_time?}`: unknown 92020005; not claimed 92020004; not UNACTIVATED (already
 *   ALIVE, or EXPIRED / RELEASED) 92020003; missing `license` or a `real_effect_time` that is not UTC
 *   `yyyyMMddHHmmss` 92020002; body not JSON 95000004. Success 92020000 with `data.license_code_info`, a JSON string
 *   `{status, expire_time, product_id, amount, order_id}` as in the spec example.
 * - activate v2 `{license_list, real_effect_time?}`: not an array of 1..100 distinct strings 92020002; any code
 *   unknown, unclaimed or not UNACTIVATED 92020020 and nothing activated (all or nothing), with
 *   `data.invalid_license_list: [{license, error_code}]`. Success: `data.license_code_info_list:
 *   [{license, license_code_info: "<JSON>"}]`. The real v2 layout is not documented: this one is INVENTED.
 * - heartbeat v1 `{license}`: unknown 92020005; never activated 92020011; else `data` LicenseInfo
 *   `{license_code, status, activate_time, expire_time}` (an ALIVE code past its expiry answers EXPIRED). Every
 *   call naming a code is counted (`heartbeatCount`), so tests can check "at most once a day".
 * - upload `POST .../v1/market-event/{event_id}/file`, multipart as built by shared/openapi/license.ts
 *   (`type`, `characters` | `file_name` + `file`, `sha256`): not multipart 95000003; unreadable 95000004; a missing
 *   or invalid field, more than 1024 characters, or a `sha256` (hex, any case) not matching the content 92020002.
 *   Success 92020000; every accepted upload is kept, in arrival order (a repeat for the same event is kept too).
 *   Any event id is accepted: events are not known here.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import {
  LICENSE_ACTIVATE_V1_PATH,
  LICENSE_ACTIVATE_V2_PATH,
  LICENSE_HEARTBEAT_V1_PATH,
  LicenseResult,
  MARKET_EVENT_FILE_PATH,
  MAX_BATCH_LICENSES,
  MAX_UPLOAD_CHARACTERS,
  realEffectTime as parseRealEffectTime,
} from '#shared/openapi/license';
import { formatMarketTime, parseMarketTime } from '#shared/protocol/time';

const marketTime = z.string().refine((s) => parseMarketTime(s) !== undefined, 'expected UTC yyyyMMddHHmmss');

/** A code as registered by tests (`registerLicense`, `POST /__local/licenses`). */
export const RegisterLicense = z.object({
  code: z.string().min(1).max(64),
  status: z.enum(['UNACTIVATED', 'ALIVE', 'EXPIRED', 'RELEASED']),
  /** whether the buyer has received the code; default true */
  claimed: z.boolean().optional(),
  /** `yyyyMMddHHmmss` UTC */
  expireTime: marketTime,
  productId: z.string(),
  orderId: z.string(),
  amount: z.number(),
  /** default: the registration time for codes that are not UNACTIVATED */
  activateTime: marketTime.optional(),
});
export type RegisterLicense = z.input<typeof RegisterLicense>;

export type LicenseState = z.output<typeof RegisterLicense> & {
  claimed: boolean;
  /** `real_effect_time` sent with the activation */
  realEffectTime?: string;
  /** calls of the heartbeat API naming this code */
  heartbeats: number;
};

export interface LicenseUploadRecord {
  eventId: string;
  type: 'CHARACTERS' | 'FILE';
  characters?: string;
  fileName?: string;
  file?: Buffer;
  /** as received */
  sha256: string;
}

export type LicenseApi = 'activate-v1' | 'activate-v2' | 'heartbeat-v1' | 'upload';


/** The License API a request is for, with the upload's decoded event id; undefined for other requests. */
export function licenseRoute(method: string, pathname: string): { api: LicenseApi; eventId?: string } | undefined {
  if (method !== 'POST') return undefined;
  if (pathname === LICENSE_ACTIVATE_V1_PATH) return { api: 'activate-v1' };
  if (pathname === LICENSE_ACTIVATE_V2_PATH) return { api: 'activate-v2' };
  if (pathname === LICENSE_HEARTBEAT_V1_PATH) return { api: 'heartbeat-v1' };
  const m = MARKET_EVENT_FILE_PATH.exec(pathname);
  if (!m) return undefined;
  try {
    return { api: 'upload', eventId: decodeURIComponent(m[1]!) };
  } catch {
    return { api: 'upload', eventId: m[1]! };
  }
}

/**
 * The preloaded mock codes, relative to `now` (all claimed unless named UNCLAIMED; invented, like ./mockOrders.ts):
 * `PLMOCKUNACTIVATED01`, `PLMOCKUNACTIVATED02` (activatable), `PLMOCKUNCLAIMED01` (92020004), `PLMOCKALIVE01`
 * (activated 30 days ago, expires in a year), `PLMOCKEXPIRED01` (expired yesterday), `PLMOCKRELEASED01`.
 */
export function mockLicenses(now: Date): RegisterLicense[] {
  const at = (days: number) => formatMarketTime(new Date(now.getTime() + days * 86_400_000));
  const base = { productId: 'OFFI000000000000000010', amount: 1 };
  return [
    { ...base, code: 'PLMOCKUNACTIVATED01', status: 'UNACTIVATED', expireTime: at(365), orderId: 'CSMOCKLICENSE01' },
    { ...base, code: 'PLMOCKUNACTIVATED02', status: 'UNACTIVATED', expireTime: at(365), orderId: 'CSMOCKLICENSE02', amount: 5 },
    { ...base, code: 'PLMOCKUNCLAIMED01', status: 'UNACTIVATED', claimed: false, expireTime: at(365), orderId: 'CSMOCKLICENSE03' },
    { ...base, code: 'PLMOCKALIVE01', status: 'ALIVE', expireTime: at(365), activateTime: at(-30), orderId: 'CSMOCKLICENSE04' },
    { ...base, code: 'PLMOCKEXPIRED01', status: 'EXPIRED', expireTime: at(-1), activateTime: at(-366), orderId: 'CSMOCKLICENSE05' },
    { ...base, code: 'PLMOCKRELEASED01', status: 'RELEASED', expireTime: at(-30), activateTime: at(-395), orderId: 'CSMOCKLICENSE06' },
  ];
}

export interface LicenseRegistry {
  /** registers or replaces a code (validated: throws on an invalid record) */
  register(license: RegisterLicense): void;
  /** registered codes with their current status (an ALIVE code past its expiry shows EXPIRED) */
  list(): LicenseState[];
  heartbeatCount(code: string): number;
  uploads(): ReadonlyArray<LicenseUploadRecord>;
  /** answers an authenticated License API call: always HTTP 200 with `{error_code, error_msg, data?}` */
  handle(api: LicenseApi, raw: Buffer, contentType: string | undefined, eventId?: string): Promise<unknown>;
}

const answer = (code: string, msg: string, data?: unknown) => ({
  error_code: code,
  error_msg: msg,
  ...(data === undefined ? {} : { data }),
});

export function createLicenseRegistry(now: () => Date): LicenseRegistry {
  const codes = new Map<string, LicenseState>();
  const uploaded: LicenseUploadRecord[] = [];

  function register(input: RegisterLicense): void {
    const l = RegisterLicense.parse(input);
    const activateTime = l.activateTime ?? (l.status === 'UNACTIVATED' ? undefined : formatMarketTime(now()));
    codes.set(l.code, { ...l, claimed: l.claimed ?? true, ...(activateTime ? { activateTime } : {}), heartbeats: 0 });
  }
  for (const l of mockLicenses(now())) register(l);

  const status = (l: LicenseState) =>
    l.status === 'ALIVE' && l.expireTime < formatMarketTime(now()) ? 'EXPIRED' : l.status;

  /** Why `code` cannot be activated (its error code), or undefined. */
  function activationProblem(code: string): { code: string; msg: string } | undefined {
    const l = codes.get(code);
    if (!l) return { code: LicenseResult.NOT_FOUND, msg: 'license code does not exist' };
    if (!l.claimed) return { code: LicenseResult.NOT_CLAIMED, msg: 'the buyer has not received the license code' };
    if (l.status !== 'UNACTIVATED') return { code: LicenseResult.ILLEGAL_STATE, msg: `license code is ${status(l)}` };
    return undefined;
  }

  function activate(code: string, realEffectTime: string | undefined): string {
    const l = codes.get(code)!;
    l.status = 'ALIVE';
    l.activateTime = formatMarketTime(now());
    if (realEffectTime !== undefined) l.realEffectTime = realEffectTime;
    return JSON.stringify({
      status: 'ALIVE',
      expire_time: l.expireTime,
      product_id: l.productId,
      amount: l.amount,
      order_id: l.orderId,
    });
  }

  /** The body as a JSON object, or the answer to give instead. */
  function jsonBody(raw: Buffer): { body: Record<string, unknown> } | { error: unknown } {
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return { error: answer('95000004', 'request body is not readable JSON') };
    }
    return isRecord(body) ? { body } : { error: answer(LicenseResult.INVALID_PARAMETER, 'request body must be an object') };
  }

  /** `real_effect_time` when valid or absent; `false` when present but invalid. */
  function effectTime(body: Record<string, unknown>): string | undefined | false {
    const t = body.real_effect_time;
    if (t === undefined) return undefined;
    return typeof t === 'string' && 'value' in parseRealEffectTime(t) ? t : false;
  }

  function activateV1(raw: Buffer): unknown {
    const parsed = jsonBody(raw);
    if ('error' in parsed) return parsed.error;
    const { license } = parsed.body;
    const time = effectTime(parsed.body);
    if (typeof license !== 'string' || license === '') return answer(LicenseResult.INVALID_PARAMETER, 'license is required');
    if (time === false) return answer(LicenseResult.INVALID_PARAMETER, 'real_effect_time must be UTC yyyyMMddHHmmss');
    const problem = activationProblem(license);
    if (problem) return answer(problem.code, problem.msg);
    return answer(LicenseResult.SUCCESS, 'success', { license_code_info: activate(license, time) });
  }

  function activateV2(raw: Buffer): unknown {
    const parsed = jsonBody(raw);
    if ('error' in parsed) return parsed.error;
    const list = parsed.body.license_list;
    const time = effectTime(parsed.body);
    if (
      !Array.isArray(list) ||
      list.length === 0 ||
      list.length > MAX_BATCH_LICENSES ||
      !list.every((c) => typeof c === 'string' && c !== '') ||
      new Set(list).size !== list.length
    ) {
      return answer(LicenseResult.INVALID_PARAMETER, `license_list must hold 1 to ${MAX_BATCH_LICENSES} distinct codes`);
    }
    if (time === false) return answer(LicenseResult.INVALID_PARAMETER, 'real_effect_time must be UTC yyyyMMddHHmmss');
    const invalid = (list as string[]).flatMap((license) => {
      const problem = activationProblem(license);
      return problem ? [{ license, error_code: problem.code }] : [];
    });
    if (invalid.length > 0) {
      return answer(LicenseResult.BATCH_INVALID, 'the batch contains invalid license codes', { invalid_license_list: invalid });
    }
    return answer(LicenseResult.SUCCESS, 'success', {
      license_code_info_list: (list as string[]).map((license) => ({ license, license_code_info: activate(license, time) })),
    });
  }

  function heartbeat(raw: Buffer): unknown {
    const parsed = jsonBody(raw);
    if ('error' in parsed) return parsed.error;
    const { license } = parsed.body;
    if (typeof license !== 'string' || license === '') return answer(LicenseResult.INVALID_PARAMETER, 'license is required');
    const l = codes.get(license);
    if (!l) return answer(LicenseResult.NOT_FOUND, 'license code does not exist');
    l.heartbeats++;
    if (l.status === 'UNACTIVATED' || l.activateTime === undefined) {
      return answer(LicenseResult.NOT_ACTIVATED, 'license code is not activated');
    }
    return answer(LicenseResult.SUCCESS, 'success', {
      license_code: l.code,
      status: status(l),
      activate_time: l.activateTime,
      expire_time: l.expireTime,
    });
  }

  async function upload(raw: Buffer, contentType: string | undefined, eventId: string): Promise<unknown> {
    if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) {
      return answer('95000003', 'content type must be multipart/form-data');
    }
    let form: FormData;
    try {
      form = await new Request('http://localhost/', { method: 'POST', headers: { 'content-type': contentType }, body: raw }).formData();
    } catch {
      return answer('95000004', 'multipart body is not readable');
    }
    const bad = (msg: string) => answer(LicenseResult.INVALID_PARAMETER, msg);
    const type = form.get('type');
    const sha256 = form.get('sha256');
    if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) return bad('sha256 must be 64 hex digits');
    let record: LicenseUploadRecord;
    let content: Buffer;
    if (type === 'CHARACTERS') {
      const characters = form.get('characters');
      if (typeof characters !== 'string' || characters === '') return bad('characters is required for type CHARACTERS');
      if (characters.length > MAX_UPLOAD_CHARACTERS) return bad(`characters must be at most ${MAX_UPLOAD_CHARACTERS} long`);
      content = Buffer.from(characters, 'utf8');
      record = { eventId, type, characters, sha256 };
    } else if (type === 'FILE') {
      const file = form.get('file');
      const fileName = form.get('file_name');
      if (typeof file === 'string' || file === null) return bad('file is required for type FILE');
      if (typeof fileName !== 'string' || fileName === '') return bad('file_name is required for type FILE');
      content = Buffer.from(await file.arrayBuffer());
      record = { eventId, type, fileName, file: content, sha256 };
    } else {
      return bad('type must be CHARACTERS or FILE');
    }
    if (createHash('sha256').update(content).digest('hex') !== sha256.toLowerCase()) {
      return bad('sha256 does not match the content');
    }
    uploaded.push(record);
    return answer(LicenseResult.SUCCESS, 'success');
  }

  return {
    register,
    list: () => [...codes.values()].map((l) => ({ ...l, status: status(l) })),
    heartbeatCount: (code) => codes.get(code)?.heartbeats ?? 0,
    uploads: () => [...uploaded],
    async handle(api, raw, contentType, eventId) {
      if (api === 'activate-v1') return activateV1(raw);
      if (api === 'activate-v2') return activateV2(raw);
      if (api === 'heartbeat-v1') return heartbeat(raw);
      return upload(raw, contentType, eventId ?? '');
    },
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
