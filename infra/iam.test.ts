/**
 * Least-privilege IAM, read from serverless.yml as serverless-iam-roles-per-function builds the roles:
 * every function has its own role holding the plugin's statement for its own log group, the provider's
 * statements (custom.serverless-iam-roles-per-function.defaultInherit) and its own iamRoleStatements.
 *
 * - no wildcard action (`*`, `dynamodb:*`, `xray:Put*`), no Deny/NotAction/NotResource tricks;
 * - every resource is the table, one of its indexes (infra/table.yml), the stage's secrets parameter
 *   (the one SECRETS_PARAMETER names) or a KMS key for it, or `*` for the few actions AWS documents as
 *   supporting no resource-level permission (each named below with the documentation fact);
 * - each function gets exactly the table actions and resources its kind needs (expected below), and
 *   every DynamoDB request a function really makes while the whole lifecycle runs through it is allowed
 *   by its own statements (so the narrowing cannot break a deployment).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { AppInfo } from '#shared/domain/instance';
import { packageGeneration, type Meter } from '#shared/domain/metering';
import type { ProvisionRequest } from '#shared/domain/provisioner';
import { formatMarketTime, formatMarketTimeMillis } from '#shared/protocol/time';
import { computeAuthToken } from '#shared/protocol/v1';
import { getRuntime } from '#shared/runtime';
import { Store } from '#shared/storage/store';
import { freshOrder, invoke, runJob, signedEvent, startHarness, type Harness } from '#shared/testing/harness';
import { internalEvent } from '#shared/testing/apiEvents';
import { kitEvent, kitStamp, merchantKeyPair } from '#shared/testing/kitCalls';
import { Browser } from '#shared/testing/ssoBrowser';
import { loadYaml, ROOT as root, SECRET_ENV_NAMES, type Yaml } from './serverlessConfig.ts';


/** A product provisioner (claim first, then provision), scripted: the first order line hangs. */
const script: Array<'hang' | 'ok'> = [];
vi.mock('#shared/product/provisioner', () => ({
  createProductProvisioner: () => ({
    onLifecycle: async () => undefined,
    provision: async (request: ProvisionRequest): Promise<AppInfo> => {
      if ((script.shift() ?? 'ok') === 'hang') return new Promise<AppInfo>(() => undefined);
      return { frontEndUrl: `https://product.example/${request.orderLineId}`, userName: 'admin', password: randomUUID() };
    },
  }),
}));

// ------------------------------------------------------------------ serverless.yml as the plugin sees it

const config: Yaml = loadYaml('serverless.yml');
const table: Yaml = loadYaml('infra/table.yml');

// a deployed stage as `serverless deploy --stage dev` resolves it
const STAGE = 'dev';
const REGION = 'ap-southeast-1';
const ACCOUNT = '123456789012';

const path = (doc: Yaml, dotted: string) => dotted.split('.').reduce((node, key) => node?.[key], doc);

/** Resolves the serverless variables used in the file; a variable it does not know fails the test. */
function resolve(value: Yaml): Yaml {
  if (Array.isArray(value)) return value.map(resolve);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  if (typeof value !== 'string') return value;
  const whole = /^\$\{self:([\w.-]+)\}$/.exec(value);
  if (whole) return resolve(path(config, whole[1]!));
  return value.replace(/\$\{([^{}]+)\}/g, (all, ref: string) => {
    if (ref === 'sls:stage' || ref === 'opt:stage' || ref.startsWith("opt:stage,")) return STAGE;
    if (ref === 'aws:region') return REGION;
    if (ref === 'aws:accountId') return ACCOUNT;
    if (ref.startsWith('self:')) return String(resolve(`\${${ref}}`));
    if (ref.startsWith('param:')) {
      const name = ref.slice('param:'.length);
      return String(resolve(config.params?.[STAGE]?.[name] ?? config.params?.default?.[name]));
    }
    throw new Error(`iam.test: unknown variable ${all}`);
  });
}

/** A CloudFormation value as the ARN it becomes (pseudo parameters and the table filled in). */
function render(value: Yaml): string {
  if (typeof value === 'string') return resolve(value);
  if (value?.Ref === 'AWS::Region') return REGION;
  if (value?.Ref === 'AWS::AccountId') return ACCOUNT;
  if (value?.Ref === 'AWS::Partition') return 'aws';
  const getAtt = value?.['Fn::GetAtt'];
  if (Array.isArray(getAtt) && getAtt[0] === 'Table' && getAtt[1] === 'Arn') return TABLE_ARN;
  if (Array.isArray(getAtt) && getAtt[0] === 'Table' && getAtt[1] === 'StreamArn') return STREAM_ARN;
  if (Array.isArray(getAtt) && getAtt[0] === 'EventBus' && getAtt[1] === 'Arn') return EVENT_BUS_ARN;
  if (Array.isArray(getAtt) && getAtt[0] === 'EventsDeadLetterQueue' && getAtt[1] === 'Arn') return DEAD_LETTER_ARN;
  const join = value?.['Fn::Join'];
  if (Array.isArray(join)) return (join[1] as Yaml[]).map(render).join(join[0]);
  const sub = value?.['Fn::Sub'];
  if (typeof sub === 'string')
    return resolve(sub).replace(/\$\{AWS::(Region|AccountId|Partition)\}/g, (_: string, p: string) => render({ Ref: `AWS::${p}` }));
  throw new Error(`iam.test: cannot render ${JSON.stringify(value)}`);
}

const TABLE_NAME = resolve(table.Properties.TableName) as string;
const TABLE_ARN = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${TABLE_NAME}`;
const STREAM_ARN = `${TABLE_ARN}/stream/*`;
const EVENT_BUS_ARN = `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/koogallery-merchant-${STAGE}`;
const DEAD_LETTER_ARN = `arn:aws:sqs:${REGION}:${ACCOUNT}:koogallery-merchant-${STAGE}-events-dlq`;
const INDEXES: string[] = [...(table.Properties.GlobalSecondaryIndexes ?? []), ...(table.Properties.LocalSecondaryIndexes ?? [])].map((i: Yaml) => i.IndexName);
const SECRETS_PARAMETER = resolve(config.provider.environment.SECRETS_PARAMETER) as string;
const SECRETS_ARN = `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/${SECRETS_PARAMETER.replace(/^\//, '')}`;
const lambdaName = (fn: string) => (config.functions[fn].name ? resolve(config.functions[fn].name) : `${config.service}-${STAGE}-${fn}`);
/** the log group statement the plugin writes into each role (its streams only: `:*:*`) */
const logGroupArn = (fn: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${lambdaName(fn)}:*:*`;

interface Statement {
  Effect: string;
  Action: string[];
  Resource: string[];
  Condition?: unknown;
}

const asList = (v: Yaml): Yaml[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const normalise = (s: Yaml): Statement => ({ ...s, Action: asList(s.Action), Resource: asList(s.Resource).map(render) });

const functionNames = Object.keys(config.functions);
const providerStatements: Yaml[] = resolve(config.provider.iam?.role?.statements ?? []);
const inheritByDefault = config.custom?.['serverless-iam-roles-per-function']?.defaultInherit === true;

/** The statements of one function's role, as serverless-iam-roles-per-function writes them. */
function roleOf(fn: string): Statement[] {
  const f = config.functions[fn];
  const inherit = f.iamRoleStatementsInherit ?? inheritByDefault;
  return [
    // the plugin's own first statement: the function's log group, nothing else
    { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:CreateLogGroup', 'logs:PutLogEvents'], Resource: [logGroupArn(fn)] },
    ...(inherit ? providerStatements : []),
    // the plugin's statement for a DynamoDB stream the function is triggered by (serverless-iam-roles-per-function getStreamStatements)
    ...asList(f.events)
      .filter((e: Yaml) => e.stream?.type === 'dynamodb')
      .map((e: Yaml) => ({ Effect: 'Allow', Action: ['dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:DescribeStream', 'dynamodb:ListStreams'], Resource: [e.stream.arn] })),
    ...asList(resolve(f.iamRoleStatements)),
  ].map(normalise);
}

/** `service:Action` pairs a role allows on a resource. */
function allowed(statements: Statement[], resource: string): Set<string> {
  return new Set(statements.filter((s) => s.Resource.includes(resource)).flatMap((s) => s.Action));
}

// ------------------------------------------------------------------ what the rules allow

/**
 * Actions AWS documents as having no resource type in the Service Authorization Reference (the
 * "Resource types" column is empty, so the policy must name `"Resource": "*"`):
 */
const NO_RESOURCE_LEVEL = new Set([
  // "Actions, resources, and condition keys for AWS X-Ray": PutTraceSegments and PutTelemetryRecords
  // list no resource type; Lambda active tracing (provider.tracing.lambda) needs both.
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
  // "Using condition keys to limit access to CloudWatch namespaces": PutMetricData takes `Resource: "*"`
  // and is narrowed by the cloudwatch:namespace condition key. Not granted today: the jobs' metrics are
  // written as Embedded Metric Format log lines (Powertools Metrics), which need no CloudWatch permission.
  'cloudwatch:PutMetricData',
]);

// DynamoDB ("Using IAM with DynamoDB transactions"): the Put / Update / Delete / ConditionCheck items of
// a TransactWriteItems are authorised as dynamodb:PutItem / UpdateItem / DeleteItem / ConditionCheckItem,
// so a function that only writes through transactions of puts needs dynamodb:PutItem and nothing more.
type Profile = { table: string[]; indexes: Record<string, string[]> };
const profile = (table: string[], byDue?: string[]): Profile => ({ table: table.map((a) => `dynamodb:${a}`), indexes: byDue ? { byDue: byDue.map((a) => `dynamodb:${a}`) } : {} });

// single reads, queryInstance's batch reads (instances, meters), the change + nonce + audit transaction
const CALLBACK = profile(['GetItem', 'BatchGetItem', 'PutItem']);
// the due work through the byDue index, the item read, its next version written
const JOB = profile(['GetItem', 'PutItem'], ['Query']);

/**
 * What each function needs, from what its code does (shared/storage/store.ts is the only DynamoDB
 * caller; the run below confirms every request). Nobody scans (the backfill script runs with the
 * operator's credentials), deletes (nonces and audit records expire by TTL) or administers the table;
 * only the scheduled jobs read the byDue index; the operator read writes nothing.
 */
const KIT = profile(['GetItem', 'PutItem', 'ConditionCheckItem', 'Query']);
const SSO = profile(['GetItem', 'Query', 'PutItem', 'DeleteItem']);
/** browser routes: GET by nature, yet they write the login state and the session */
const SESSION_ROUTES = ['ssoLogin', 'ssoCallback', 'ssoSession', 'ssoLogout'];
/** the SaaS V1 production URL is a GET by protocol (spec 3.14), yet it changes instances and records nonces */
const WRITING_GET_ROUTES = ['produceV1'];
const EXPECTED: Record<string, Profile> = {
  produce: CALLBACK,
  produceV1: CALLBACK,
  newInstance: CALLBACK,
  queryInstance: CALLBACK,
  refreshInstance: CALLBACK,
  updateInstanceStatus: CALLBACK,
  releaseInstance: CALLBACK,
  upgradeInstance: CALLBACK,
  changeInstanceCheck: CALLBACK,
  orderNotify: CALLBACK,
  // the instance and its meter, its notifications and calls (queries of its partition)
  getInstance: profile(['GetItem', 'Query']),
  // an order's supervised lines and notifications (query of its partition), their next version
  hardwareOrders: profile(['GetItem', 'Query', 'PutItem']),
  // the usage key, the meter (put) and the hour's bucket (an update adding to it)
  usage: profile(['GetItem', 'PutItem', 'UpdateItem']),
  // the product's later answer (PROVISIONER=async): the instance read, its next version put
  instanceReady: profile(['GetItem', 'PutItem']),
  resumeProvisioning: JOB,
  expiryFreeze: JOB,
  resourceRelease: JOB,
  hardwareAutoAccept: JOB,
  autoRebuyCheck: JOB,
  provisioningWatch: JOB,
  // the due markers through the byDue index, the instance and its marker read, the marker moved on (a
  // conditional put), a missed renewal put with its audit record
  reconcile: JOB,
  // claims and settles hour buckets with conditional updates; reads nothing else
  usagePush: profile(['UpdateItem'], ['Query']),
  // the Kit syncs: conditional puts in transactions, a condition check on the department snapshot,
  // the stored departments read back (one query per shard)
  tenantSync: KIT,
  applicationSync: KIT,
  authSync: KIT,
  singleOrgSync: KIT,
  allOrgSync: KIT,
  // login: tenant / application / user reads, the login state taken (deleted), the session written
  ssoLogin: SSO,
  ssoCallback: SSO,
  ssoSession: SSO,
  ssoLogout: SSO,
  // the tenant, its applications (query) and the per-shard queries of users and departments
  getTenant: profile(['GetItem', 'Query']),
  // License 2.0: the code read, its next version put with the call's receipt (callbacks); the route without receipt
  license: CALLBACK,
  refreshLicenseCode: CALLBACK,
  updateLicenseCodeStatus: CALLBACK,
  releaseLicenseCode: CALLBACK,
  licenses: profile(['GetItem', 'PutItem']),
  // online License: the record, instance, device and quota read; the claim (with the receipt) and the outcome put
  getLicenseAsync: CALLBACK,
  // the due deliveries through the byDue index, the record read, its lease and outcome put
  licenseDelivery: JOB,
  // the outbox relay reads the table's stream, never the table (its other resources: OUTSIDE_THE_TABLE)
  publishEvents: profile([]),
};

/** What a function may use beyond the table, its index, its secrets and its log group: resource → actions. */
const OUTSIDE_THE_TABLE: Record<string, Record<string, string[]>> = {
  publishEvents: {
    // what Lambda's event source mapping needs to read the stream (the plugin's statement)
    [STREAM_ARN]: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'],
    [EVENT_BUS_ARN]: ['events:PutEvents'],
    // the stream's on-failure destination is written with the function's role
    [DEAD_LETTER_ARN]: ['sqs:SendMessage'],
  },
};
/** functions that make no request to the table (so the lifecycle run below cannot exercise their table role) */
const TABLE_FREE = Object.keys(EXPECTED).filter((fn) => EXPECTED[fn]!.table.length === 0 && Object.keys(EXPECTED[fn]!.indexes).length === 0);

// ------------------------------------------------------------------ the static checks

describe('least-privilege IAM (serverless.yml)', () => {
  it('reads the file as the plugin does: every function has its own role, none shares the default one', () => {
    expect(functionNames.length).toBeGreaterThan(15);
    expect(Object.keys(EXPECTED).sort()).toEqual([...functionNames].sort());
    expect(config.plugins).toContain('serverless-iam-roles-per-function');
    expect(config.provider.iam?.role?.managedPolicies ?? []).toEqual([]);
    expect(config.provider.iamManagedPolicies ?? []).toEqual([]);
    for (const fn of functionNames) {
      // without iamRoleStatements the plugin leaves the function on the shared role (the union of all)
      expect(asList(config.functions[fn].iamRoleStatements).length, fn).toBeGreaterThan(0);
      expect(config.functions[fn].role, fn).toBeUndefined();
    }
  });

  it.each(functionNames)('%s: no wildcard action, only Allow statements', (fn) => {
    for (const s of roleOf(fn)) {
      expect(s.Effect).toBe('Allow');
      expect(s).not.toHaveProperty('NotAction');
      expect(s).not.toHaveProperty('NotResource');
      expect(s.Action.length).toBeGreaterThan(0);
      for (const action of s.Action) expect(action, `${fn}: ${action}`).toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
    }
  });

  it.each(functionNames)('%s: every resource is its table, an index of it, its secrets parameter or its log group', (fn) => {
    for (const s of roleOf(fn)) {
      for (const resource of s.Resource) {
        if (resource === '*') {
          for (const action of s.Action) expect(NO_RESOURCE_LEVEL.has(action), `${fn}: ${action} on *`).toBe(true);
          continue;
        }
        const index = resource.startsWith(`${TABLE_ARN}/index/`) ? resource.slice(`${TABLE_ARN}/index/`.length) : undefined;
        if (resource === TABLE_ARN || index !== undefined) {
          if (index !== undefined) expect(INDEXES, `${fn}: index ${index}`).toContain(index);
          for (const action of s.Action) expect(action, `${fn} on ${resource}`).toMatch(/^dynamodb:/);
        } else if (resource === SECRETS_ARN) {
          // Powertools Parameters reads one parameter with GetParameter (decrypted)
          expect(s.Action, fn).toEqual(['ssm:GetParameter']);
        } else if (OUTSIDE_THE_TABLE[fn]?.[resource]) {
          expect([...s.Action].sort(), `${fn} on ${resource}`).toEqual([...OUTSIDE_THE_TABLE[fn][resource]].sort());
        } else if (/^arn:aws:kms:[^:]+:\d+:key\/[\w-]+$/.test(resource)) {
          // a customer-managed key encrypting the secrets parameter (README "Deploy"): decrypt only
          expect(s.Action, fn).toEqual(['kms:Decrypt']);
        } else {
          expect(resource, `${fn}: ${s.Action.join(', ')}`).toBe(logGroupArn(fn));
          expect(s.Action.every((a) => a.startsWith('logs:')), fn).toBe(true);
        }
      }
    }
  });

  it.each(functionNames)('%s: exactly the table actions it needs, the secrets parameter, tracing', (fn) => {
    const role = roleOf(fn);
    const expected = EXPECTED[fn]!;
    expect([...allowed(role, TABLE_ARN)].sort(), `${fn} on the table`).toEqual([...expected.table].sort());
    for (const index of INDEXES)
      expect([...allowed(role, `${TABLE_ARN}/index/${index}`)].sort(), `${fn} on index ${index}`).toEqual([...(expected.indexes[index] ?? [])].sort());
    // every function builds the runtime, which reads the secrets (shared/runtime.ts)
    expect([...allowed(role, SECRETS_ARN)]).toEqual(['ssm:GetParameter']);
    // active tracing is on for every function (provider.tracing.lambda)
    expect(config.provider.tracing?.lambda).toBe(true);
    expect([...allowed(role, '*')].sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    // the statements name nothing else
    const named = new Set(role.flatMap((s) => s.Resource));
    const others = [...named].filter(
      (r) => ![TABLE_ARN, SECRETS_ARN, '*', logGroupArn(fn), ...INDEXES.map((i) => `${TABLE_ARN}/index/${i}`), ...Object.keys(OUTSIDE_THE_TABLE[fn] ?? {})].includes(r),
    );
    expect(others, fn).toEqual([]);
  });

  it('the secrets parameter granted is the one the functions read, on every deployed stage', () => {
    expect(SECRETS_PARAMETER).toBe(`/koogallery/${STAGE}/secrets`);
    // the local stage reads no parameter (environment variables): nothing to grant there
    expect(config.params.local.secretsParameter).toBe('');
  });

  it('a read-only route (only GET events) gets no write action anywhere', () => {
    const readOnly = functionNames.filter((fn) => {
      const events = asList(config.functions[fn].events);
      return !SESSION_ROUTES.includes(fn) && !WRITING_GET_ROUTES.includes(fn) && events.length > 0 && events.every((e: Yaml) => e.http?.method?.toLowerCase() === 'get');
    });
    expect(readOnly).toEqual(['getInstance', 'getTenant']);
    for (const fn of readOnly) {
      const actions = roleOf(fn).flatMap((s) => s.Action);
      expect(actions.filter((a) => /^dynamodb:(Put|Update|Delete|BatchWrite|ConditionCheck)/.test(a)), fn).toEqual([]);
    }
  });

  it('the checks catch a violation (positive controls)', () => {
    const wide = (s: Yaml) => normalise(s);
    const bad = [
      wide({ Effect: 'Allow', Action: 'dynamodb:*', Resource: { 'Fn::GetAtt': ['Table', 'Arn'] } }),
      wide({ Effect: 'Allow', Action: ['dynamodb:GetItem'], Resource: '*' }),
      wide({ Effect: 'Allow', Action: ['ssm:GetParameter'], Resource: `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/koogallery/*` }),
    ];
    expect(bad[0]!.Action[0]).not.toMatch(/^[a-z0-9-]+:[A-Za-z0-9]+$/);
    expect(NO_RESOURCE_LEVEL.has(bad[1]!.Action[0]!)).toBe(false);
    expect(bad[2]!.Resource[0]).not.toBe(SECRETS_ARN);
    expect(render({ 'Fn::Join': ['/', [{ 'Fn::GetAtt': ['Table', 'Arn'] }, 'index', 'byDue']] })).toBe(`${TABLE_ARN}/index/byDue`);
  });
});

describe('secrets in the deployment (serverless.yml)', () => {
  const environments = [config.provider.environment ?? {}, ...functionNames.map((fn) => config.functions[fn].environment ?? {})];

  it('no secret is put into a deployed function\'s environment: a deployed stage reads them from the SSM parameter', () => {
    // the local stage passes npm start's own values through (serverless-offline hands the functions only
    // serverless.yml's environment); every other stage resolves them to nothing
    for (const env of environments)
      for (const name of SECRET_ENV_NAMES) if (name in env) expect(resolve(env[name]), `${name} on stage ${STAGE}`).toBe('');
    for (const name of ['accessKey', 'ak', 'sk', 'dataKey', 'kitAccessKey', 'v1Key', 'licenseSigningKey', 'webhookSecret'])
      expect(config.params.default[name], `params.default.${name}`).toBe('');
    expect(config.provider.environment.SECRETS_PARAMETER).toBe('${param:secretsParameter}');
    expect(config.params.default.secretsParameter).toBe('/koogallery/${sls:stage}/secrets');
  });

  it('the Powertools logger never logs whole events (they carry the signature, the nonce and the body)', () => {
    for (const env of environments) expect(String(env.POWERTOOLS_LOGGER_LOG_EVENT ?? 'false')).toBe('false');
  });
});

// ------------------------------------------------------------------ what the functions really do

const handlers = Object.fromEntries(
  await Promise.all(functionNames.map(async (fn) => [fn, ((await import(`${root}functions/${fn}/handler.ts`)) as { handler: Handler }).handler] as const)),
);
type Handler = (event: any, context: Context) => Promise<unknown>;

const running = new AsyncLocalStorage<string>();
/** fn -> `action resource` pairs the function's DynamoDB requests needed */
const used = new Map<string, Set<string>>();
const unattributed: string[] = [];

/** The IAM action(s) and resource each request is authorised as. */
function authorisations(command: string, input: Yaml): Array<[string, string]> {
  const arn = (tableName: string, indexName?: string) =>
    `${tableName === h.table.tableName ? TABLE_ARN : `other:${tableName}`}${indexName ? `/index/${indexName}` : ''}`;
  const single: Record<string, string> = {
    GetItemCommand: 'dynamodb:GetItem',
    PutItemCommand: 'dynamodb:PutItem',
    UpdateItemCommand: 'dynamodb:UpdateItem',
    DeleteItemCommand: 'dynamodb:DeleteItem',
    QueryCommand: 'dynamodb:Query',
    ScanCommand: 'dynamodb:Scan',
  };
  if (single[command]) return [[single[command], arn(input.TableName, input.IndexName)]];
  if (command === 'BatchGetItemCommand') return Object.keys(input.RequestItems).map((t) => ['dynamodb:BatchGetItem', arn(t)]);
  if (command === 'BatchWriteItemCommand') return Object.keys(input.RequestItems).map((t) => ['dynamodb:BatchWriteItem', arn(t)]);
  if (command === 'TransactGetItemsCommand') return input.TransactItems.map((i: Yaml) => ['dynamodb:GetItem', arn(i.Get.TableName)]);
  if (command === 'TransactWriteItemsCommand')
    return input.TransactItems.map((i: Yaml) => {
      const [kind, item] = Object.entries(i).find(([, v]) => v)! as [string, Yaml];
      const action = { Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', ConditionCheck: 'ConditionCheckItem' }[kind];
      return [`dynamodb:${action ?? kind}`, arn(item.TableName)];
    });
  return [[`dynamodb:unknown(${command})`, arn(input.TableName ?? '?')]];
}

let h: Harness;
const merchantKeys = merchantKeyPair();
beforeAll(async () => {
  h = await startHarness({
    KOOGALLERY_KIT_PRIVATE_KEY: merchantKeys.privateKey,
    SSO_BASE_URL: 'http://127.0.0.1:3000',
    // generous budgets: the machine running the tests may be slow; only the scripted hang outlives them
    OPEN_API_TIMEOUT_MS: '3000',
    REQUEST_BUDGET_MS: '15000',
    PROVISION_BUDGET_MS: '1500',
    PROVISION_RETRY_DELAY_MS: '60000',
    PRODUCT_CATALOGUE: JSON.stringify([
      { skuCode: 'sku-appliance', kind: 'hardware', name: 'Edge appliance' },
      { skuCode: 'sku-pack', kind: 'package', package: { quota: 100, threshold: { percent: 20 }, autoRebuy: true } },
    ]),
  });
  const { store } = (await getRuntime()).services;
  if (!(store instanceof Store)) throw new Error('the runtime store is not the DynamoDB store');
  store.documentClient.middlewareStack.add(
    (next, context) => async (args) => {
      const fn = running.getStore();
      const command = String((context as { commandName?: string }).commandName);
      for (const [action, resource] of authorisations(command, args.input as Yaml)) {
        if (fn === undefined) unattributed.push(`${action} ${resource}`);
        else used.set(fn, (used.get(fn) ?? new Set()).add(`${action} ${resource}`));
      }
      return next(args);
    },
    { step: 'initialize', priority: 'high', name: 'iam-test-recorder', override: true },
  );
});
afterAll(() => h.close());

/** Runs one function's handler; every request it causes, also after it answered, is its own. */
const as = <T>(fn: string, work: () => Promise<T>): Promise<T> => running.run(fn, work);
const callback = (fn: string, body: Record<string, unknown>) => as(fn, () => invoke(handlers[fn] as never, signedEvent(body)));
/** a SaaS V1 call: GET /produce/v1 with the authToken over the query parameters (spec 2.3) */
const v1Call = async (params: Record<string, string>) => {
  const key = (await getRuntime()).secrets.v1Keys[0]!;
  const signed = { ...params, timeStamp: formatMarketTimeMillis(new Date()) };
  const query = { ...signed, authToken: computeAuthToken(key, signed) };
  return as('produceV1', () => invoke(handlers.produceV1 as never, internalEvent({ method: 'GET', resource: '/produce/v1', query })));
};
const route = (fn: string, method: 'GET' | 'POST', resource: string, pathParameters: Record<string, string>, body?: unknown) =>
  as(fn, () =>
    invoke(handlers[fn] as never, internalEvent({ method, resource, pathParameters, body: body === undefined ? null : JSON.stringify(body) })),
  );
const job = (fn: string, time: Date) => as(fn, () => runJob<Record<string, number>>(handlers[fn] as never, time));

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function order(over: Parameters<typeof freshOrder>[0] = {}) {
  const o = freshOrder(over);
  h.marketplace.registerOrder(o);
  return { orderId: o.orderId, orderLineId: o.orderLine[0]!.orderLineId };
}

describe('every DynamoDB request of the whole lifecycle is allowed to the function that makes it', () => {
  it('runs every function, every job with work due, and checks each request against its own role', async () => {
    const now = Date.now();
    // the callbacks, each through its own function and through produce
    const expired = order({ expireTime: formatMarketTime(new Date(now - DAY)) });
    const a = await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...expired });
    const b = await callback('newInstance', { activity: 'newInstance', businessId: randomUUID(), ...order() });
    const [idA, idB] = [a.json.instanceId!, b.json.instanceId!];
    expect([a.json.resultCode, b.json.resultCode]).toEqual(['000000', '000000']);
    // a debug call runs the built-in provisioner (one commit); a resend answers from the table
    const debug = { activity: 'newInstance', orderId: 'MOCKPERIODYEARNEW', orderLineId: 'MOCKPERIODYEARNEW-000001', testFlag: '1' };
    expect((await callback('newInstance', { ...debug, businessId: randomUUID() })).json.resultCode).toBe('000000');
    expect((await callback('produce', { ...debug, businessId: randomUUID() })).json.resultCode).toBe('000000');
    // a provisioning that outlives the answer: finished by resumeProvisioning, watched by provisioningWatch
    script.push('hang');
    const slow = await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...order() });
    expect(slow.json.resultCode).toBe('000004');
    // two more the product answers later through its routes (PROVISIONER=async): ready, and refused
    script.push('hang', 'hang');
    const awaiting = [
      (await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...order() })).json.instanceId!,
      (await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...order() })).json.instanceId!,
    ];
    expect((await callback('queryInstance', { activity: 'queryInstance', instanceId: `${idA},${idB}` })).json.resultCode).toBe('000000');
    expect((await callback('produce', { activity: 'queryInstance', instanceId: idB })).json.resultCode).toBe('000000');
    expect((await callback('refreshInstance', { activity: 'refreshInstance', instanceId: idB, ...order(), scene: 'RENEWAL', expireTime: '20291124235959' })).json.resultCode).toBe('000000');
    expect((await callback('updateInstanceStatus', { activity: 'updateInstanceStatus', instanceId: idB, status: 'FREEZE' })).json.resultCode).toBe('000000');
    expect((await callback('produce', { activity: 'updateInstanceStatus', instanceId: idB, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    const upgrade = freshOrder({ orderType: 'CHANGE', skuCode: 'sku-pro', linearValue: 50 });
    h.marketplace.registerOrder(upgrade);
    expect((await callback('upgradeInstance', { activity: 'upgradeInstance', instanceId: idB, orderId: upgrade.orderId, orderLineId: upgrade.orderLine[0]!.orderLineId })).json.resultCode).toBe('000000');
    expect((await callback('changeInstanceCheck', { activity: 'changeInstanceCheck', instanceId: idB, productInfo: { skuCode: 'sku-small', linearValue: 60 } })).json.resultCode).toBe('000000');
    const released = (await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...order() })).json.instanceId!;
    expect((await callback('releaseInstance', { activity: 'releaseInstance', instanceId: released })).json.resultCode).toBe('000000');
    const notified = order();
    expect((await callback('orderNotify', { activity: 'orderNotify', ...notified, testFlag: '0' })).json.resultCode).toBe('000000');
    expect((await callback('orderNotify', { activity: 'orderNotify', ...notified, testFlag: '0' })).json.resultCode).toBe('000000');
    // the V1 production URL: create (order read by orderId), repeat, query (batch read), freeze and unfreeze, release
    const v1Order = order();
    const v1Created = await v1Call({ activity: 'newInstance', orderId: v1Order.orderId, businessId: randomUUID(), productId: 'OFFI0001' });
    expect(v1Created.json.resultCode).toBe('000000');
    const v1Id = v1Created.json.instanceId!;
    expect((await v1Call({ activity: 'newInstance', orderId: v1Order.orderId, businessId: randomUUID(), productId: 'OFFI0001' })).json.instanceId).toBe(v1Id);
    expect((await v1Call({ activity: 'queryInstance', instanceId: v1Id })).json.resultCode).toBe('000000');
    expect((await v1Call({ activity: 'expireInstance', instanceId: v1Id, orderId: v1Order.orderId })).json.resultCode).toBe('000000');
    expect((await v1Call({ activity: 'instanceStatus', instanceId: v1Id, instanceStatus: 'NORMAL' })).json.resultCode).toBe('000000');
    expect((await v1Call({ activity: 'releaseInstance', instanceId: v1Id, orderId: v1Order.orderId })).json.resultCode).toBe('000000');

    // the joint-operation Kit syncs (V2 and V1), the operator's tenant read and a whole login
    const tenantId = `iam-${randomUUID()}`;
    const tenantCode = `iam${Date.now()}`;
    const domainName = h.marketplace.identity.domainName(tenantCode);
    h.marketplace.identity.registerTenant({ tenantId, tenantCode, clients: [{ clientId: 'iam-client', clientSecret: 'iam-secret', appId: 'iam-app' }], users: [{ userName: 'alice', name: 'Alice', role: 'admin' }] });
    const kit = (fn: string, body: Record<string, unknown>, version: 'v1' | 'v2' = 'v2') =>
      as(fn, () => invoke(handlers[fn] as never, kitEvent(fn as never, { instanceId: '', tenantId, testFlag: 0, timeStamp: kitStamp(), ...body }, { version })));
    expect((await kit('tenantSync', { orderId: '', tenantCode, name: 'IAM', domainName, flag: 1 })).json.resultCode).toBe('000000');
    expect((await kit('applicationSync', { appId: 'iam-app', clientId: 'iam-client', clientSecret: merchantKeys.encrypt('iam-secret'), flag: 1 }, 'v1')).json.resultCode).toBe('000000');
    expect((await kit('allOrgSync', { orgInfoList: [{ orgCode: 'HQ', orgName: 'HQ' }] })).json.resultCode).toBe('000000');
    expect((await kit('singleOrgSync', { orgCode: 'DEV', orgName: 'Dev', parentCode: 'HQ', flag: 1 })).json.resultCode).toBe('000000');
    const users = [{ userName: 'alice', name: 'Alice', orgCode: 'HQ', role: 'admin', enable: 'true' }];
    expect((await kit('authSync', { appId: 'iam-app', userList: users, currentSyncTime: kitStamp(), flag: 1 })).json.resultCode).toBe('000000');
    expect((await route('getTenant', 'GET', '/internal/tenants/{tenantId}', { tenantId })).status).toBe(200);
    const sso = new Browser({
      login: (e: never, c: Context) => as('ssoLogin', () => (handlers.ssoLogin as never as Handler)(e, c)),
      callback: (e: never, c: Context) => as('ssoCallback', () => (handlers.ssoCallback as never as Handler)(e, c)),
      session: (e: never, c: Context) => as('ssoSession', () => (handlers.ssoSession as never as Handler)(e, c)),
      logout: (e: never, c: Context) => as('ssoLogout', () => (handlers.ssoLogout as never as Handler)(e, c)),
    } as never);
    expect((await sso.signIn(tenantCode, 'alice')).page.status).toBe(302);
    expect((await sso.get('session')).status).toBe(200);
    expect((await sso.get('logout')).status).toBe(302);

    // the internal routes
    expect((await route('getInstance', 'GET', '/internal/instances/{instanceId}', { instanceId: idB })).status).toBe(200);
    const ready = { frontEndUrl: 'https://product.example/ready', userName: 'admin', password: randomUUID() };
    expect((await route('instanceReady', 'POST', '/internal/instances/{instanceId}/ready', { instanceId: awaiting[0]! }, ready)).json).toMatchObject({ status: 'ACTIVE' });
    expect((await route('instanceReady', 'POST', '/internal/instances/{instanceId}/ready', { instanceId: awaiting[0]! }, ready)).status).toBe(200);
    expect((await route('instanceReady', 'POST', '/internal/instances/{instanceId}/failed', { instanceId: awaiting[1]! }, { resultCode: '000106', message: 'sold out' })).json).toMatchObject({ status: 'FAILED' });
    const matching = order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' });
    const differing = order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' });
    for (const [ids, phone, signedAt] of [[matching, '18612345678', now - 11 * DAY], [differing, '13900000000', now - DAY]] as const) {
      expect((await callback('produce', { activity: 'orderNotify', ...ids, testFlag: '0' })).json.resultCode).toBe('000000');
      const orderId = { orderId: ids.orderId };
      expect((await route('hardwareOrders', 'GET', '/internal/orders/{orderId}', orderId)).status).toBe(200);
      expect((await route('hardwareOrders', 'POST', '/internal/orders/{orderId}/shipment', orderId, { carrier: 'SF Express', trackingNumber: 'SF1', waybillPhone: phone })).status).toBe(200);
      expect((await route('hardwareOrders', 'POST', '/internal/orders/{orderId}/sign-off', orderId, { signedAt: new Date(signedAt).toISOString() })).status).toBe(200);
    }
    const appealed = order({ skuCode: 'sku-appliance', chargingMode: 'ONE_TIME' });
    await callback('produce', { activity: 'orderNotify', ...appealed, testFlag: '0' });
    expect((await route('hardwareOrders', 'POST', '/internal/orders/{orderId}/acceptance', { orderId: appealed.orderId }, { action: 'appeal', note: 'late' })).status).toBe(200);
    const onDemand = (await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...order({ chargingMode: 'ON_DEMAND' }) })).json.instanceId!;
    const packOrder = order({ chargingMode: 'ON_DEMAND_PKG', skuCode: 'sku-pack' });
    const pack = (await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...packOrder })).json.instanceId!;
    const hourAgo = new Date(now - 2 * HOUR).toISOString();
    const records = [{ key: randomUUID(), instanceId: onDemand, amount: 2, at: hourAgo }, { key: randomUUID(), instanceId: pack, amount: 85, at: hourAgo }];
    const usage = await route('usage', 'POST', '/internal/usage', {}, { records });
    expect(usage.json.results.map((r: { outcome: string }) => r.outcome)).toEqual(['recorded', 'recorded']);
    expect((await route('usage', 'POST', '/internal/usage', {}, { records })).json.results.map((r: { outcome: string }) => r.outcome)).toEqual(['duplicate', 'duplicate']);
    expect((await route('usage', 'POST', '/internal/instances/{instanceId}/package', { instanceId: pack }, { autoRebuy: true })).status).toBe(200);
    expect((await callback('queryInstance', { activity: 'queryInstance', instanceId: `${onDemand},${pack}` })).json.info).toHaveLength(2);

    // License 2.0: a code activated and checked by the product, then renewed, frozen and released by the marketplace
    const license = 'PLMOCKUNACTIVATED02';
    expect((await route('licenses', 'POST', '/internal/licenses/{code}/activate', { code: license })).status).toBe(200);
    expect((await route('licenses', 'POST', '/internal/licenses/{code}/heartbeat', { code: license })).json.fromCache).toBe(false);
    expect((await route('licenses', 'POST', '/internal/licenses/{code}/heartbeat', { code: license })).json.fromCache).toBe(true);
    const renewal = { activity: 'refreshLicenseCode', scene: 'RENEWAL', ...order(), license, expireTime: formatMarketTime(new Date(now + 800 * DAY)) };
    expect((await callback('refreshLicenseCode', renewal)).json.resultCode).toBe('000000');
    expect((await callback('refreshLicenseCode', renewal)).json.resultCode).toBe('000000');
    expect((await callback('updateLicenseCodeStatus', { activity: 'updateLicenseCodeStatus', license, status: 'FREEZE' })).json.resultCode).toBe('000000');
    expect((await callback('updateLicenseCodeStatus', { activity: 'updateLicenseCodeStatus', license: 'PLUNKNOWNIAM01', status: 'FREEZE' })).json.resultCode).toBe('000003');
    expect((await callback('releaseLicenseCode', { activity: 'releaseLicenseCode', license })).json.resultCode).toBe('000000');
    // the License production URL runs the same callbacks
    expect((await callback('license', { activity: 'updateLicenseCodeStatus', license, status: 'UNFREEZE' })).json.resultCode).toBe('000000');
    expect((await callback('license', { activity: 'queryInstance', instanceId: idB })).json.resultCode).toBe('000000');

    // online License: a request whose upload fails within the call (000004 again on resend), delivered by licenseDelivery
    const licenseRequest = { activity: 'getLicenseAsync', instanceId: idB, eventId: `iam-${randomUUID()}`, effectiveTime: '2026-01-01 00:00:00 z', expireTime: '20281231000000', deviceFingerprint: 'iam-device' };
    h.marketplace.injectFaults({ count: 1, mode: 'error' });
    expect((await callback('getLicenseAsync', licenseRequest)).json.resultCode).toBe('000004');
    expect((await callback('getLicenseAsync', licenseRequest)).json.resultCode).toBe('000004');

    // a rebuy intent whose hand-over was lost (the process died after raising it), written as the store would
    const stranded = (await callback('produce', { activity: 'newInstance', businessId: randomUUID(), ...order({ chargingMode: 'ON_DEMAND_PKG', skuCode: 'sku-pack' }) })).json.instanceId!;
    const { store } = (await getRuntime()).services;
    const generation = packageGeneration((await as('test setup', () => store.getInstance(stranded)))!);
    const meter: Meter = {
      instanceId: stranded,
      generation,
      package: { quota: 100, remaining: 15, stopWhenExhausted: true },
      used: 85,
      records: 1,
      intent: { id: `rebuy:${stranded}:${generation}`, generation, state: 'PENDING', raisedAt: new Date(now).toISOString(), remaining: 15, dueAt: new Date(now + 120_000).toISOString() },
      updatedAt: new Date(now).toISOString(),
      version: 0,
    };
    expect(await as('test setup', () => store.saveMeter(meter, 0))).toBeDefined();

    // the scheduled jobs, each with work due
    expect(await job('resumeProvisioning', new Date(now + 2 * 60_000))).toMatchObject({ completed: 1 });
    expect(await job('expiryFreeze', new Date(now + 3 * HOUR))).toMatchObject({ done: 1 });
    expect((await job('provisioningWatch', new Date(now + 3 * HOUR))).done).toBeGreaterThanOrEqual(1);
    expect(await job('resourceRelease', new Date(now + 20 * DAY))).toMatchObject({ done: 1 });
    expect((await job('hardwareAutoAccept', new Date(now))).done).toBeGreaterThanOrEqual(2);
    expect((await job('usagePush', new Date(now))).done).toBeGreaterThanOrEqual(2);
    expect(await job('autoRebuyCheck', new Date(now + 15 * 60_000))).toMatchObject({ done: 1 });
    // every live instance's daily check has come a day later; one the marketplace renewed without telling us
    const missed = freshOrder();
    h.marketplace.registerOrder(missed);
    expect((await callback('produce', { activity: 'newInstance', businessId: randomUUID(), orderId: missed.orderId, orderLineId: missed.orderLine[0]!.orderLineId })).json.resultCode).toBe('000000');
    h.marketplace.registerOrder({ ...missed, orderLine: [{ ...missed.orderLine[0]!, expireTime: '20301124235959' }] });
    expect(await job('reconcile', new Date(now + DAY + HOUR))).toMatchObject({ failed: 0, driftFixed: 1 });
    expect(await job('licenseDelivery', new Date(now + 10 * 60_000))).toMatchObject({ delivered: 1 });
    expect((await callback('getLicenseAsync', licenseRequest)).json.resultCode).toBe('000000');

    used.delete('test setup');
    expect(unattributed).toEqual([]);
    expect([...used.keys()].sort()).toEqual(functionNames.filter((fn) => !TABLE_FREE.includes(fn)).sort());
    for (const [fn, requests] of used) {
      const role = roleOf(fn);
      for (const request of requests) {
        const [action, resource] = request.split(' ') as [string, string];
        expect(allowed(role, resource).has(action), `${fn} makes ${action} on ${resource}`).toBe(true);
      }
    }
    // the run reached the reads and writes the roles are narrowed to
    expect([...used.get('expiryFreeze')!].map((r) => r.split(' ')[0]).sort()).toEqual(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query']);
    expect([...used.get('queryInstance')!].map((r) => r.split(' ')[0])).toContain('dynamodb:BatchGetItem');
    expect([...used.get('usage')!].map((r) => r.split(' ')[0])).toContain('dynamodb:UpdateItem');
  }, 120_000);
});
