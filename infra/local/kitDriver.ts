/**
 * Local "Kit driver": the marketplace side of the joint-operation Kit sync interfaces (spec 3.9, 3.9.6), for local runs
 * and tests. It builds spec-exact bodies, signs them (V2 `x-sign`, spec 2.2; or V1 `authToken`, spec 2.3), encrypts
 * the application-sync `clientSecret` (spec 2.6: RSA-OAEP, SHA-256 for both OAEP and MGF1, base64 — the real
 * parameters are undocumented, spec 7 item 13) and delivers them to the merchant backend.
 *
 * Also here: `createLocalKit`, the marketplace's test-support routes that create a tenant in the local identity
 * service (./identity.ts, spec 3.10) and sync it to the backend:
 * - `POST /__local/kit/tenants` `{tenantCode, name?, users?, departments?, instanceId?, orderId?, version?}` ->
 *   tenantSync add, applicationSync add, allOrgSync, authSync add (≤ 500 users per call);
 *   200 `{tenantId, tenantCode, domainName, appId, clientId, results}`, or 502 with the failing reply.
 * - `POST /__local/kit/tenants/{tenantCode}/users` `{flag, users}` -> authSync, then the identity service's users
 *   follow (flag 1/2 add or update, 0 removes, 3 — revoked authorization — leaves the user in the identity service).
 * - `GET /__local/kit/tenants` -> the tenants (never a client secret).
 *
 * timeStamp: UTC+8 `yyyyMMddHHmmssSSS` (spec 3.9 tables), for V1 too: spec 2.3 says UTC for the authToken in general,
 * 3.9.6 lists no zone difference for the V1 Kit (unclear; the backend accepts either for V1, and orders calls by the
 * timeStamp read as UTC+8). Within one driver the timeStamps strictly increase (bumped by 1 ms when the clock has not
 * moved), since the backend orders calls by them.
 */
import { constants, publicEncrypt, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { computeAuthToken, authTokenParamsOfBody } from '#shared/protocol/v1';
import { signKitRequest } from '#shared/protocol/kitSignature';
import { bodySignHeader, canonicalJson } from '#shared/protocol/signature';
import { formatMarketTimeMillis } from '#shared/protocol/time';
import type { IdentityService, IdpDepartment, IdpUser } from '#infra/local/identity';

export interface KitRequest {
  /** e.g. `/produceAPI/v2/tenantSync`, appended to the backend's production URL */
  path: string;
  headers: Record<string, string>;
  body: string;
}
export interface KitResponse {
  statusCode: number;
  headers: Record<string, string | undefined>;
  body: string;
}
export type Deliver = (request: KitRequest) => Promise<KitResponse>;

export type KitVersion = 'v2' | 'v1';
export interface KitCallOptions {
  version?: KitVersion;
  /** overrides the generated timeStamp (then the strictly-increasing sequence is not advanced) */
  timeStamp?: string;
  /** overrides the generated nonce (V2) */
  nonce?: string;
}

export interface KitReply {
  /** `resultCode` / `resultMsg` of the JSON reply; undefined when the reply is not JSON or lacks them */
  resultCode: string | undefined;
  resultMsg: string | undefined;
  /** V1 only: whether the reply's `Body-Sign` (spec 2.4) verifies with the V1 key (false when absent) */
  bodySignValid?: boolean;
  request: KitRequest;
  response: KitResponse;
}

/** 0 delete, 1 add, 2 modify (V1 tenant / application sync: 0 and 1 only) */
export type KitFlag = 0 | 1 | 2;
/** authSync adds 3: revoke authorization */
export type AuthFlag = KitFlag | 3;

/** User of authSync (spec 3.9.3) */
export interface KitUser {
  userName: string;
  name: string;
  orgCode: string;
  role: string;
  /** `"true"` / `"false"` */
  enable: string;
  position?: string;
  employeeCode?: string;
  employeeType?: number;
  mobile?: string;
  email?: string;
  workPlace?: string;
  entryDate?: string;
}

export interface KitOrgInfo {
  orgCode: string;
  orgName: string;
  /** empty or absent = top level */
  parentCode?: string;
}

export interface TenantSyncInput {
  instanceId: string;
  orderId: string;
  tenantId: string;
  tenantCode: string;
  name: string;
  domainName: string;
  flag: KitFlag;
}
export interface ApplicationSyncInput {
  instanceId: string;
  tenantId: string;
  appId: string;
  clientId: string;
  /** plaintext: the driver encrypts it with the merchant's public key */
  clientSecret: string;
  flag: KitFlag;
}
export interface AuthSyncInput {
  instanceId: string;
  tenantId: string;
  appId: string;
  userList: KitUser[];
  flag: AuthFlag;
  /** default: this call's timeStamp */
  currentSyncTime?: string;
}
export interface SingleOrgSyncInput {
  instanceId: string;
  tenantId: string;
  orgCode: string;
  orgName: string;
  parentCode?: string;
  flag: KitFlag;
}
export interface AllOrgSyncInput {
  instanceId: string;
  tenantId: string;
  orgInfoList: KitOrgInfo[];
}

export interface KitDriverOptions {
  deliver: Deliver;
  /** the access key bound to the Kit interfaces (x-sign) */
  kitAccessKey: string;
  /** the V1 key (authToken, Body-Sign); needed only for V1 calls */
  v1Key?: string;
  /** the merchant's RSA public key (PEM) registered for the joint-operation application */
  merchantPublicKeyPem: string;
  now?: () => Date;
}

export interface KitDriver {
  tenantSync(input: TenantSyncInput, opts?: KitCallOptions): Promise<KitReply>;
  applicationSync(input: ApplicationSyncInput, opts?: KitCallOptions): Promise<KitReply>;
  authSync(input: AuthSyncInput, opts?: KitCallOptions): Promise<KitReply>;
  singleOrgSync(input: SingleOrgSyncInput, opts?: KitCallOptions): Promise<KitReply>;
  allOrgSync(input: AllOrgSyncInput, opts?: KitCallOptions): Promise<KitReply>;
}

/** Most users one authSync call may carry (spec 3.9.3). */
export const MAX_USERS_PER_AUTH_SYNC = 500;
const UTC8_OFFSET_MS = 8 * 3600_000;

/** `yyyyMMddHHmmssSSS` in UTC+8 (China time), the Kit V2 timeStamp format (spec 3.9.1). */
export function formatUtc8Millis(d: Date): string {
  return formatMarketTimeMillis(new Date(d.getTime() + UTC8_OFFSET_MS));
}

/** RSA-OAEP (SHA-256, MGF1-SHA-256) encryption of the client secret, base64 (spec 2.6; the scheme is our choice). */
export function encryptClientSecret(publicKeyPem: string, secret: string): string {
  return publicEncrypt(
    { key: publicKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    Buffer.from(secret, 'utf8'),
  ).toString('base64');
}

/** Compact JSON with object keys sorted at every level (code-point order), null members dropped. */
function sortedJson(value: unknown): string {
  const text = canonicalJson(JSON.stringify(value));
  if (text === undefined) throw new TypeError('body is not serializable as JSON');
  return text;
}

type Fields = Record<string, unknown>;

export function createKitDriver(opts: KitDriverOptions): KitDriver {
  const now = opts.now ?? (() => new Date());
  let lastMs = -Infinity;

  /** the next call's instant: now, or 1 ms after the previous call when the clock has not moved past it */
  function nextInstant(): number {
    lastMs = Math.max(now().getTime(), lastMs + 1);
    return lastMs;
  }

  async function call(name: string, build: (timeStamp: string) => { v2: Fields; v1: Fields }, o: KitCallOptions = {}) {
    const version = o.version ?? 'v2';
    const ms = o.timeStamp === undefined ? nextInstant() : now().getTime();
    const timeStamp = o.timeStamp ?? formatUtc8Millis(new Date(ms));
    const fields = build(timeStamp);
    let request: KitRequest;
    if (version === 'v2') {
      const body = sortedJson({ ...fields.v2, testFlag: 0, timeStamp });
      const nonce = o.nonce ?? randomBytes(32).toString('hex').toUpperCase();
      const timestamp = String(ms);
      request = {
        path: `/produceAPI/v2/${name}`,
        headers: {
          'Content-Type': 'application/json',
          'x-sign': signKitRequest(opts.kitAccessKey, nonce, timestamp, body).toUpperCase(),
          'x-timestamp': timestamp,
          'x-nonce': nonce,
        },
        body,
      };
    } else {
      if (!opts.v1Key) throw new Error('a V1 Kit call needs the V1 key (v1Key)');
      const body = sortedJson({ ...fields.v1, testFlag: 0, timeStamp });
      const params = authTokenParamsOfBody(JSON.parse(body) as Fields);
      if (!params) throw new TypeError('V1 body cannot be rendered for the authToken');
      request = {
        path: `/produceAPI/${name}`,
        headers: { 'Content-Type': 'application/json', authToken: computeAuthToken(opts.v1Key, params) },
        body,
      };
    }
    const response = await opts.deliver(request);
    const parsed = parseJson(response.body);
    const reply: KitReply = {
      resultCode: typeof parsed?.resultCode === 'string' ? parsed.resultCode : undefined,
      resultMsg: typeof parsed?.resultMsg === 'string' ? parsed.resultMsg : undefined,
      request,
      response,
    };
    if (version === 'v1') reply.bodySignValid = bodySignValid(opts.v1Key!, response);
    return reply;
  }

  const v1Flag = (flag: KitFlag, o?: KitCallOptions) => {
    if ((o?.version ?? 'v2') === 'v1' && flag === 2) throw new RangeError('V1 tenant / application sync supports flag 0 and 1 only');
    return flag;
  };
  const same = (f: Fields) => ({ v2: f, v1: f });
  const orgs = (list: KitOrgInfo[]) => list.map((org) => ({ ...org, parentCode: org.parentCode ?? '' }));

  return {
    tenantSync: (i, o) =>
      call(
        'tenantSync',
        () =>
          same({
            instanceId: i.instanceId,
            orderId: i.orderId,
            tenantId: i.tenantId,
            tenantCode: i.tenantCode,
            name: i.name,
            domainName: i.domainName,
            flag: v1Flag(i.flag, o),
          }),
        o,
      ),
    applicationSync: (i, o) =>
      call(
        'applicationSync',
        () =>
          same({
            instanceId: i.instanceId,
            tenantId: i.tenantId,
            appId: i.appId,
            clientId: i.clientId,
            clientSecret: encryptClientSecret(opts.merchantPublicKeyPem, i.clientSecret),
            flag: v1Flag(i.flag, o),
          }),
        o,
      ),
    authSync: async (i, o) => {
      if (i.userList.length > MAX_USERS_PER_AUTH_SYNC) {
        throw new RangeError(`authSync carries at most ${MAX_USERS_PER_AUTH_SYNC} users per call`);
      }
      return call(
        'authSync',
        (timeStamp) => {
          const common = {
            instanceId: i.instanceId,
            tenantId: i.tenantId,
            appId: i.appId,
            currentSyncTime: i.currentSyncTime ?? timeStamp,
            flag: i.flag,
          };
          return { v2: { ...common, userList: i.userList }, v1: { ...common, userList: sortedJson(i.userList) } };
        },
        o,
      );
    },
    singleOrgSync: (i, o) =>
      call(
        'singleOrgSync',
        () =>
          same({
            instanceId: i.instanceId,
            tenantId: i.tenantId,
            orgCode: i.orgCode,
            orgName: i.orgName,
            parentCode: i.parentCode ?? '',
            flag: i.flag,
          }),
        o,
      ),
    allOrgSync: (i, o) =>
      call(
        'allOrgSync',
        () => {
          const common = { instanceId: i.instanceId, tenantId: i.tenantId };
          const v1Items = orgs(i.orgInfoList).map((org) => ({ orgCode: org.orgCode, name: org.orgName, parentCode: org.parentCode }));
          return { v2: { ...common, orgInfoList: orgs(i.orgInfoList) }, v1: { ...common, orgInfo: sortedJson(v1Items) } };
        },
        o,
      ),
  };
}

/** Body-Sign check (spec 2.4): the header's base64 HMAC equals HMAC(key, exact body). */
function bodySignValid(key: string, response: KitResponse): boolean {
  const header = Object.entries(response.headers).find(([name]) => name.toLowerCase() === 'body-sign')?.[1];
  const signatureOf = (value: string) => /signature=\s*"([^"]*)"/.exec(value)?.[1];
  const received = header === undefined ? undefined : signatureOf(header);
  return received !== undefined && received === signatureOf(bodySignHeader(key, response.body));
}

/** Delivers over HTTP to `${backendUrl}${path}` (20 s timeout). */
export function httpDeliver(backendUrl: string): Deliver {
  const base = backendUrl.replace(/\/+$/, '');
  return async (request) => {
    const res = await fetch(`${base}${request.path}`, {
      method: 'POST',
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(20_000),
    });
    const headers: Record<string, string> = {};
    res.headers.forEach((value, name) => (headers[name] = value));
    return { statusCode: res.status, headers, body: await res.text() };
  };
}

// ---------------------------------------------------------------------------------------------------------------
// test-support routes: local tenants
// ---------------------------------------------------------------------------------------------------------------

const TenantCode = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'tenantCode: 1-64 letters, digits, _ . -');
const Enable = z.union([z.enum(['true', 'false']), z.boolean().transform((b) => (b ? 'true' : 'false'))]);
const UserInput = z.object({
  userName: z.string().min(1).max(64),
  name: z.string().min(1).max(64).optional(),
  role: z.enum(['admin', 'user']).optional(),
  enable: Enable.optional(),
  email: z.string().max(128).optional(),
  mobile: z.string().max(32).optional(),
  orgCode: z.string().max(64).optional(),
});
type UserInput = z.infer<typeof UserInput>;
const Department = z.object({
  orgCode: z.string().min(1).max(64),
  orgName: z.string().min(1).max(128),
  parentCode: z.string().max(64).optional(),
});
const Version = z.enum(['v2', 'v1']);
const CreateTenant = z.object({
  tenantCode: TenantCode,
  name: z.string().min(1).max(255).optional(),
  users: z.array(UserInput).optional(),
  departments: z.array(Department).optional(),
  instanceId: z.string().max(64).optional(),
  orderId: z.string().max(64).optional(),
  version: Version.optional(),
});
export type CreateTenantInput = z.input<typeof CreateTenant>;
const UpdateUsers = z.object({
  flag: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]),
  users: z.array(UserInput).min(1),
  version: Version.optional(),
});

/** One sync call as reported by the local routes. */
export interface KitCallSummary {
  path: string;
  statusCode: number;
  resultCode: string | undefined;
  resultMsg: string | undefined;
  bodySignValid?: boolean;
}

interface KitTenant {
  tenantId: string;
  tenantCode: string;
  appId: string;
  clientId: string;
  instanceId: string;
  orderId: string;
  version: KitVersion;
}

export interface LocalKitOptions {
  driver: KitDriver;
  identity: IdentityService;
  /** for authSync's currentSyncTime (UTC+8, one value for all chunks of one sync) */
  now?: () => Date;
}

export interface LocalKitAnswer {
  status: number;
  body: unknown;
}

export interface LocalKit {
  /** answers a `/__local/kit/...` route; undefined when the route is not one of them */
  handle(method: string, path: string, body: string): Promise<LocalKitAnswer | undefined>;
}

const DEFAULT_DEPARTMENTS: IdpDepartment[] = [
  { orgCode: 'HQ', orgName: 'Head office' },
  { orgCode: 'HQ-DEV', orgName: 'Development', parentCode: 'HQ' },
];
const DEFAULT_USERS: UserInput[] = [
  { userName: 'admin', name: 'Local Admin', role: 'admin', email: 'admin@example.com', mobile: '13800000000', orgCode: 'HQ' },
  { userName: 'user1', name: 'Local User', role: 'user', email: 'user1@example.com', orgCode: 'HQ-DEV' },
];

class SyncFailed extends Error {}

export function createLocalKit({ driver, identity, now = () => new Date() }: LocalKitOptions): LocalKit {
  const kitTenants = new Map<string, KitTenant>();
  const hex32 = () => randomBytes(16).toString('hex');

  const toKitUser = (u: IdpUser): KitUser => ({
    userName: u.userName,
    name: u.name,
    orgCode: u.orgCode ?? '',
    role: u.role,
    enable: u.enable,
    ...(u.mobile !== undefined ? { mobile: u.mobile } : {}),
    ...(u.email !== undefined ? { email: u.email } : {}),
  });
  const summary = (r: KitReply): KitCallSummary => ({
    path: r.request.path,
    statusCode: r.response.statusCode,
    resultCode: r.resultCode,
    resultMsg: r.resultMsg,
    ...(r.bodySignValid !== undefined ? { bodySignValid: r.bodySignValid } : {}),
  });

  /** sends one call, records it, throws SyncFailed unless the backend answered 000000 */
  async function send(results: KitCallSummary[], reply: Promise<KitReply>): Promise<void> {
    const r = summary(await reply);
    results.push(r);
    if (r.resultCode !== '000000') throw new SyncFailed(`${r.path} answered ${r.resultCode ?? `HTTP ${r.statusCode}`}`);
  }

  async function authSyncAll(results: KitCallSummary[], t: KitTenant, users: KitUser[], flag: AuthFlag, version: KitVersion) {
    const currentSyncTime = formatUtc8Millis(now());
    for (let i = 0; i < users.length; i += MAX_USERS_PER_AUTH_SYNC) {
      const userList = users.slice(i, i + MAX_USERS_PER_AUTH_SYNC);
      await send(
        results,
        driver.authSync({ instanceId: t.instanceId, tenantId: t.tenantId, appId: t.appId, userList, flag, currentSyncTime }, { version }),
      );
    }
  }

  /** runs the calls; a failure becomes a 502 answer with the replies so far */
  async function syncing(results: KitCallSummary[], calls: () => Promise<LocalKitAnswer>, onFailure = () => {}) {
    try {
      return await calls();
    } catch (e) {
      onFailure();
      if (e instanceof SyncFailed) return { status: 502, body: { error: e.message, failed: results.at(-1), results } };
      return { status: 502, body: { error: `backend not reachable: ${e instanceof Error ? e.message : String(e)}`, results } };
    }
  }

  async function createTenant(input: z.infer<typeof CreateTenant>): Promise<LocalKitAnswer> {
    if (identity.tenant(input.tenantCode)) return { status: 409, body: { error: `tenant ${input.tenantCode} exists` } };
    const departments = input.departments ?? DEFAULT_DEPARTMENTS;
    const rootOrg = departments.find((d) => !d.parentCode)?.orgCode ?? '';
    const clientSecret = randomBytes(24).toString('base64url');
    const t: KitTenant = {
      tenantId: hex32(),
      tenantCode: input.tenantCode,
      appId: hex32(),
      clientId: hex32(),
      instanceId: input.instanceId ?? '',
      orderId: input.orderId ?? '',
      version: input.version ?? 'v2',
    };
    const tenant = identity.registerTenant({
      tenantId: t.tenantId,
      tenantCode: t.tenantCode,
      name: input.name ?? `${input.tenantCode} (local tenant)`,
      clients: [{ clientId: t.clientId, clientSecret, appId: t.appId }],
      users: (input.users ?? DEFAULT_USERS).map((u) => ({ ...u, orgCode: u.orgCode ?? rootOrg })),
      departments,
    });
    kitTenants.set(t.tenantCode, t);
    const results: KitCallSummary[] = [];
    const version = { version: t.version };
    const common = { instanceId: t.instanceId, tenantId: t.tenantId };
    return syncing(
      results,
      async () => {
        await send(
          results,
          driver.tenantSync(
            { ...common, orderId: t.orderId, tenantCode: t.tenantCode, name: tenant.name, domainName: tenant.domainName, flag: 1 },
            version,
          ),
        );
        await send(results, driver.applicationSync({ ...common, appId: t.appId, clientId: t.clientId, clientSecret, flag: 1 }, version));
        await send(results, driver.allOrgSync({ ...common, orgInfoList: departments }, version));
        await authSyncAll(results, t, tenant.users.map(toKitUser), 1, t.version);
        const { tenantId, tenantCode, appId, clientId } = t;
        return { status: 200, body: { tenantId, tenantCode, domainName: tenant.domainName, appId, clientId, results } };
      },
      () => {
        // forget it, so that the same tenantCode can be tried again
        identity.removeTenant(t.tenantCode);
        kitTenants.delete(t.tenantCode);
      },
    );
  }

  async function updateUsers(tenantCode: string, input: z.infer<typeof UpdateUsers>): Promise<LocalKitAnswer> {
    const t = kitTenants.get(tenantCode);
    const tenant = identity.tenant(tenantCode);
    if (!t || !tenant) return { status: 404, body: { error: `unknown tenant ${tenantCode}` } };
    const rootOrg = tenant.departments.find((d) => !d.parentCode)?.orgCode ?? '';
    // fields not given are taken from the identity service's record
    const users: IdpUser[] = input.users.map((u) => {
      const known = tenant.users.find((k) => k.userName === u.userName);
      return {
        userId: known?.userId ?? '',
        name: u.name ?? known?.name ?? u.userName,
        role: u.role ?? known?.role ?? 'user',
        enable: u.enable ?? known?.enable ?? 'true',
        orgCode: u.orgCode ?? known?.orgCode ?? rootOrg,
        ...definedOnly({ email: u.email ?? known?.email, mobile: u.mobile ?? known?.mobile }),
        userName: u.userName,
      };
    });
    const results: KitCallSummary[] = [];
    return syncing(results, async () => {
      await authSyncAll(results, t, users.map(toKitUser), input.flag, input.version ?? t.version);
      for (const { userId, ...user } of users) {
        if (input.flag === 0) identity.removeUser(tenantCode, user.userName);
        else if (input.flag !== 3) identity.setUser(tenantCode, { ...user, ...(userId ? { userId } : {}) });
      }
      return { status: 200, body: { tenantCode, results } };
    });
  }

  function list(): LocalKitAnswer {
    const body = [...kitTenants.values()].map((t) => {
      const tenant = identity.tenant(t.tenantCode);
      return {
        ...t,
        name: tenant?.name,
        domainName: tenant?.domainName,
        users: tenant?.users ?? [],
        departments: tenant?.departments ?? [],
      };
    });
    return { status: 200, body };
  }

  return {
    async handle(method, path, body) {
      if (path === '/__local/kit/tenants') {
        if (method === 'GET') return list();
        if (method === 'POST') return validated(CreateTenant, body, createTenant);
        return { status: 405, body: { error: 'GET or POST' } };
      }
      const match = /^\/__local\/kit\/tenants\/([^/]+)\/users$/.exec(path);
      if (match && method === 'POST') {
        let code: string;
        try {
          code = decodeURIComponent(match[1]!);
        } catch {
          return { status: 404, body: { error: 'unknown tenant' } };
        }
        return validated(UpdateUsers, body, (input) => updateUsers(code, input));
      }
      return undefined;
    },
  };
}

async function validated<S extends z.ZodType>(
  schema: S,
  body: string,
  action: (input: z.infer<S>) => Promise<LocalKitAnswer>,
): Promise<LocalKitAnswer> {
  const parsed = schema.safeParse(parseJsonValue(body));
  if (!parsed.success) return { status: 400, body: { error: z.prettifyError(parsed.error) } };
  return action(parsed.data);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function parseJsonValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function parseJson(text: string): Record<string, unknown> | undefined {
  const v = parseJsonValue(text);
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
