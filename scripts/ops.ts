/**
 * `npm run ops -- <command>`: the operator's view of a running service (README "Operations").
 *   status [--hours 24]               instances by state, timers due in the next hours, recent failed calls
 *   failed [--days 1]                 the calls we answered with a failure, newest first (ids for redrive)
 *   redrive <id> [--url URL] [--force] sends a failed call again through the production URL, signed afresh
 * Connects like the runtime: TABLE_NAME / DYNAMODB_ENDPOINT / SECRETS_PARAMETER from the environment,
 * `--stage <name>` for the table koogallery-<name>; with nothing set, the local stack of `npm start`.
 * Exit status: 0 done (a redrive answered 000000 / 000004), 1 a redrive answered with a failure or an
 * error, 2 bad usage or an unknown id.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createSealer } from '../shared/crypto/sealer.ts';
import { httpRedrivePorts, redrive, type RedrivePorts } from '../shared/ops/redrive.ts';
import { formatFailed, formatStatus, readStatus } from '../shared/ops/status.ts';
import { getRuntime } from '../shared/runtime.ts';
import { FailedCallStore } from '../shared/storage/failedCalls.ts';
import { isFailure } from '../shared/storage/failedCallEntities.ts';

const USAGE = `usage: npm run ops -- [--stage <name>] <command>
  status [--hours 24]          instances by state, timers due in the next hours, recent failed calls
  failed [--days 1]            calls answered with a failure (kept FAILED_CALL_TTL_DAYS, default 14)
  redrive <id> [--url URL] [--force]
                               send a failed call again, signed afresh, to the production URL (the API's
                               base or the URL in the seller console); refused when its instance changed
                               since, unless --force
                               (default KOOGALLERY_PRODUCTION_URL, else npm start's http://127.0.0.1:3000)`;

export const LOCAL_PRODUCTION_URL = 'http://127.0.0.1:3000';
const LOCAL_DYNAMODB = 'http://127.0.0.1:8000';

export interface OpsIo {
  out(text: string): void;
  err(text: string): void;
}

export interface OpsEnv {
  /** the environment the runtime is read from (mutated: connection defaults) */
  env: NodeJS.ProcessEnv;
  /** where redrives go (tests: the handlers in process); default HTTP to the URL */
  ports?(url: string): RedrivePorts;
  now?(): Date;
}

const count = (raw: string | undefined, name: string, fallback: number) => {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 14 * 24) throw new UsageError(`--${name} must be a whole number from 1`);
  return n;
};

class UsageError extends Error {}

/** The table and keys the runtime would use: `--stage`, the environment, or the local stack. */
function connect(env: NodeJS.ProcessEnv, stage: string | undefined): void {
  if (stage !== undefined) {
    if (!/^[a-z0-9-]+$/i.test(stage)) throw new UsageError('--stage must be a stage name');
    env.STAGE = stage;
    env.TABLE_NAME = `koogallery-${stage}`;
    return;
  }
  if (env.TABLE_NAME || env.DYNAMODB_ENDPOINT || env.SECRETS_PARAMETER) return;
  // nothing configured: the local stack (infra/local/start.ts: DynamoDB Local, table koogallery-local, local keys)
  env.STAGE ??= 'local';
  env.DYNAMODB_ENDPOINT = LOCAL_DYNAMODB;
  env.AWS_ACCESS_KEY_ID ??= 'local';
  env.AWS_SECRET_ACCESS_KEY ??= 'local';
  env.AWS_REGION ??= 'ap-southeast-1';
}

export async function main(argv: string[], io: OpsIo, cli: OpsEnv = { env: process.env }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { stage: { type: 'string' }, hours: { type: 'string' }, days: { type: 'string' }, url: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const now = cli.now?.() ?? new Date();
  try {
    if (!['status', 'failed', 'redrive'].includes(command)) throw new UsageError(`unknown command ${command}`);
    if (command === 'redrive' ? rest.length !== 1 : rest.length !== 0) throw new UsageError(`${command}: ${command === 'redrive' ? 'one id' : 'no arguments'} expected`);
    const hours = count(values.hours, 'hours', 24);
    const days = count(values.days, 'days', 1);
    const url = values.url ?? cli.env.KOOGALLERY_PRODUCTION_URL ?? LOCAL_PRODUCTION_URL;
    if (!/^https?:\/\/[^/@]+/.test(url)) throw new UsageError('--url must be an http(s) URL without credentials');
    connect(cli.env, values.stage);

    const runtime = await getRuntime();
    const failedCalls = new FailedCallStore({ documentClient: runtime.documentClient, tableName: runtime.settings.tableName });
    if (command === 'status') {
      const status = await readStatus({ store: runtime.services.store, failedCalls, documentClient: runtime.documentClient, tableName: runtime.settings.tableName }, now, hours);
      io.out(`table ${runtime.settings.tableName}, ${now.toISOString()}\n\n${formatStatus(status, hours)}`);
      return 0;
    }
    if (command === 'failed') {
      const failed = await failedCalls.list(now, days);
      io.out(formatFailed(failed, `Failed calls in the last ${days} day(s) (${failed.length}), table ${runtime.settings.tableName}`));
      return 0;
    }
    const outcome = await redrive(
      {
        failedCalls,
        sealer: createSealer(runtime.secrets.dataKeys),
        keys: runtime.secrets,
        ports: cli.ports?.(url) ?? httpRedrivePorts(url),
        history: (instanceId) => runtime.services.store.history(instanceId, 100),
        force: values.force === true,
        now: cli.now ?? (() => new Date()),
      },
      rest[0]!,
    );
    if (!outcome.ok) {
      io.err(outcome.problem);
      if (outcome.candidates) io.err(formatFailed(outcome.candidates, 'Candidates'));
      return 2;
    }
    const { call } = outcome;
    if (outcome.before > 0) io.out(`note: ${call.id} was redriven ${outcome.before} time(s) before (last at ${call.lastRedriveAt}: ${call.lastRedriveCode})`);
    io.out(`redrove ${call.id}: ${call.activity} via ${call.route} (first answered ${call.resultCode} ${call.resultMsg})`);
    io.out(`answer: ${outcome.resultCode} ${outcome.resultMsg}${outcome.status === 200 && !outcome.signedAnswer ? ' (Body-Sign missing or not valid)' : ''}`);
    if (!outcome.recorded) io.err('another redrive of this call was recorded meanwhile: this answer is not on the failed call');
    return isFailure(outcome.resultCode) ? 1 : 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n${USAGE}`);
      return 2;
    }
    io.err(`ops ${command}: ${(error as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // the SDK warns about Node 20 when its first client is made; an operator's table needs no such line
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  main(process.argv.slice(2), { out: (text) => console.log(text), err: (text) => console.error(text) }).then(
    (code) => process.exit(code),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
