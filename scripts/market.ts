/**
 * `npm run market -- <scenario|all> [--chaos] [--seed N] [--json <file>] [--target <url>]`: the
 * marketplace in a box. Drives whole scenarios against the local stack (`npm start`) the way KooGallery
 * does, or against any deployment (`--target`, keys from the environment) as a conformance check.
 * Exit status 1 on any violation, 2 on bad usage.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { httpPorts, type MarketPorts } from '../shared/market/ports.ts';
import { formatScenario, formatSummary, reportData, summarize } from '../shared/market/report.ts';
import { runScenario, type ScenarioResult } from '../shared/market/runner.ts';
import { SCENARIOS, scenarioNamed } from '../shared/market/scenarios.ts';
import { LOCAL_DEFAULTS } from '../shared/secrets.ts';

const USAGE = `usage: npm run market -- <scenario|all> [--chaos] [--seed N] [--json <file>] [--target <url>]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** a live progress line (TTY only): replaced in place */
  progress?(text: string): void;
  colour: boolean;
}

export interface CliEnv {
  env: Record<string, string | undefined>;
  /** the ports to use (tests: in process); default HTTP to the local stack or the target */
  ports?(target: string | undefined): MarketPorts;
}

/** Runs the CLI; answers the exit status. */
export async function main(argv: string[], io: CliIo, cli: CliEnv = { env: process.env }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { chaos: { type: 'boolean' }, seed: { type: 'string' }, json: { type: 'string' }, target: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const chosen = positionals.includes('all') ? [...SCENARIOS] : positionals.map((name) => scenarioNamed(name));
  const unknown = positionals.filter((name) => name !== 'all' && !scenarioNamed(name));
  if (unknown.length) {
    io.err(`unknown scenario(s): ${unknown.join(', ')}\n${USAGE}`);
    return 2;
  }
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed)) {
    io.err(`--seed must be an integer\n${USAGE}`);
    return 2;
  }
  const env = cli.env;
  const target = values.target;
  if (target !== undefined) {
    // a deployment is checked with its own keys, never the public local ones
    let url: URL | undefined;
    try {
      url = new URL(target);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol) || url.username || url.password) {
      io.err(`--target must be an http(s) URL without credentials\n${USAGE}`);
      return 2;
    }
    if (!env.KOOGALLERY_ACCESS_KEY) {
      io.err(`--target needs KOOGALLERY_ACCESS_KEY (and KOOGALLERY_V1_KEY for V1 steps) of that deployment\n${USAGE}`);
      return 2;
    }
  }
  const accessKey = (env.KOOGALLERY_ACCESS_KEY || LOCAL_DEFAULTS.KOOGALLERY_ACCESS_KEY).split(',')[0]!.trim();
  const v1Key = (env.KOOGALLERY_V1_KEY || LOCAL_DEFAULTS.KOOGALLERY_V1_KEY).split(',')[0]!.trim();
  const ports =
    cli.ports?.(target) ??
    httpPorts({
      api: target ?? `http://127.0.0.1:${env.PORT || 3000}`,
      lambda: `http://127.0.0.1:${env.LAMBDA_PORT || 3002}`,
      // the local marketplace only: never KOOGALLERY_API_URL (the real open API, where test orders must not go)
      marketplace: env.MARKETPLACE_URL || `http://127.0.0.1:${env.MARKETPLACE_PORT || 4010}`,
    });

  const results: ScenarioResult[] = [];
  for (const scenario of chosen as NonNullable<(typeof chosen)[number]>[]) {
    const result = await runScenario(scenario, ports, {
      accessKey,
      v1Key,
      chaos: values.chaos ?? false,
      seed,
      target: target !== undefined,
      onProgress: (name, row, rows, label) => io.progress?.(`▶ ${name} ${row}/${rows} ${label}`),
    });
    io.progress?.('');
    io.out(`${formatScenario(result, io.colour)}\n`);
    results.push(result);
  }
  const summary = summarize(results);
  io.out(formatSummary(summary, io.colour));
  if (values.json) {
    const data = reportData(results, { target: target ?? 'local', chaos: values.chaos ?? false, seed, at: new Date().toISOString() });
    writeFileSync(values.json, `${JSON.stringify(data, null, 2)}\n`);
  }
  return summary.failed ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const tty = process.stdout.isTTY === true;
  const io: CliIo = {
    out: (text) => console.log(text),
    err: (text) => console.error(text),
    colour: tty && !process.env.NO_COLOR,
    ...(tty ? { progress: (text: string) => void process.stdout.write(`\r\x1b[2K${text.slice(0, (process.stdout.columns || 100) - 1)}`) } : {}),
  };
  main(process.argv.slice(2), io).then(
    (code) => process.exit(code),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
