/**
 * A scripted browser for the joint-operation login (spec 3.10): keeps cookies, sends the `/sso/*`
 * routes to the real handlers as API Gateway events, and follows the identity service's authorize
 * redirect over HTTP (the local identity service approves `login_hint` directly). No test runner here:
 * the IAM test, the login tests and a CLI can all drive it.
 */
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult | unknown>;

export interface SsoHandlers {
  login: Handler;
  callback: Handler;
  session: Handler;
  logout: Handler;
}

export interface Page {
  status: number;
  location?: string;
  json?: Record<string, unknown>;
  setCookies: string[];
}

const context = { functionName: 'test', awsRequestId: 'test', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;

export function ssoEvent(path: string, query: Record<string, string>, cookies: Map<string, string>): APIGatewayProxyEvent {
  const cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  return {
    httpMethod: 'GET',
    path,
    resource: path,
    body: null,
    isBase64Encoded: false,
    headers: { Host: '127.0.0.1:3000', ...(cookie ? { Cookie: cookie } : {}) },
    multiValueHeaders: {},
    queryStringParameters: Object.keys(query).length ? query : null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {} as APIGatewayProxyEvent['requestContext'],
  };
}

export class Browser {
  readonly cookies = new Map<string, string>();
  constructor(private readonly handlers: SsoHandlers) {}

  async get(route: keyof SsoHandlers, query: Record<string, string> = {}): Promise<Page> {
    const result = (await this.handlers[route](ssoEvent(`/sso/${route}`, query, this.cookies), context)) as APIGatewayProxyResult;
    const setCookies = (result.multiValueHeaders?.['Set-Cookie'] ?? []).map(String);
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';').map((s) => s.trim());
      const at = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, at), pair!.slice(at + 1)];
      if (attributes.includes('Max-Age=0') || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const location = result.headers?.Location as string | undefined;
    return { status: result.statusCode, setCookies, ...(location ? { location } : {}), ...(result.body ? { json: JSON.parse(result.body) } : {}) };
  }

  /** Follows an authorize URL at the identity service as `userName` (login_hint): the redirect back, code and state. */
  async authorize(authorizeUrl: string, userName: string): Promise<{ code: string; state: string; location: string }> {
    const url = new URL(authorizeUrl);
    url.searchParams.set('login_hint', userName);
    const response = await fetch(url, { redirect: 'manual' });
    const location = response.headers.get('location');
    if (response.status !== 302 || !location) throw new Error(`authorize answered ${response.status}: ${await response.text()}`);
    const back = new URL(location);
    return { code: back.searchParams.get('code') ?? '', state: back.searchParams.get('state') ?? '', location };
  }

  /** The whole sign-in: /sso/login → identity service → /sso/callback. Returns the callback's page. */
  async signIn(tenant: string, userName: string, extra: Record<string, string> = {}): Promise<{ page: Page; code: string; state: string }> {
    const start = await this.get('login', { tenant, ...extra });
    if (start.status !== 302 || !start.location) return { page: start, code: '', state: '' };
    const { code, state } = await this.authorize(start.location, userName);
    return { page: await this.get('callback', { code, state }), code, state };
  }
}
