/**
 * `npm run bench` (bundles): P3, "every function bundle ≤ 250 KB minified; loading it ≤ 1.3× loading a
 * hello-world bundle".
 *
 * Every function of serverless.yml is built the way serverless-esbuild builds it for a deploy: the
 * options of `custom.esbuild` (bundle, minify, linked source map, target, platform node, format cjs,
 * `exclude` as esbuild `external`), one entry per function. A hello-world handler is built the same way.
 * Size is the minified .cjs in bytes (KB = 1000 bytes; the source map is a separate file, not counted).
 *
 * Loading is a fresh `node` process that require()s the bundle and exits (nothing is invoked), with
 * the deployed stages' NODE_OPTIONS and static environment (provider.environment): wall time from spawn
 * to exit, so node's own start-up is in both figures, as it is in a Lambda cold start. Per function,
 * BENCH_BUNDLE_RUNS rounds (default 11) each time three processes in turn: hello world, the bundle,
 * and a process that require()s only the `@aws-sdk/*` modules the bundle requires. Medians of each;
 * the ratio is bundle / hello world of the same rounds. The bundle's process require()s the bundle's
 * `@aws-sdk/*` modules just before the bundle (the modules it would load first itself), so its
 * in-process times split into SDK and the bundle's own code.
 *
 * `@aws-sdk/*` is external: in Lambda the nodejs22.x runtime provides it, locally it comes from
 * node_modules. It counts: the bundles require it at module load (the store's and the secrets' imports,
 * esbuild hoists them to the top of the cjs output), and a Lambda cold start pays that load too (the
 * runtime does not preload it). The SDK-only column is the floor of any bundle that loads the SDK at init.
 *
 * Merges its figures into bench/results.json under "bundles". Exits 1 when a target is missed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Metafile } from 'esbuild';
import yaml from 'js-yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MAX_BYTES = 250_000;
const MAX_LOAD_RATIO = 1.3;
const RUNS = Number(process.env.BENCH_BUNDLE_RUNS || 11);
// inside the checkout's node_modules, so the bundles resolve their external @aws-sdk/* as they would next to the runtime's
const OUT = join(ROOT, 'node_modules', '.cache', 'bench-bundles');
const HELLO = 'hello world';

/** serverless.yml holds CloudFormation tags (!Ref, !GetAtt, !Join): read them as plain values. */
const cfnTags = (['scalar', 'sequence', 'mapping'] as const).map(
  (kind) => new yaml.Type('!', { kind, multi: true, construct: (data: unknown) => data }),
);
const SCHEMA = yaml.DEFAULT_SCHEMA.extend(cfnTags);

interface ServerlessYml {
  provider: { environment?: Record<string, unknown> };
  custom: { esbuild: Record<string, unknown> };
  functions: Record<string, { handler: string }>;
}

const serverless = yaml.load(readFileSync(join(ROOT, 'serverless.yml'), 'utf8'), { schema: SCHEMA }) as ServerlessYml;

/** custom.esbuild as serverless-esbuild hands it to esbuild: its own keys dropped, `exclude` made `external`. */
function esbuildOptions(): BuildOptions {
  const { exclude, external, outputFileExtension, packager, ...rest } = serverless.custom.esbuild as Record<string, unknown> & {
    exclude?: string[];
    external?: string[];
    outputFileExtension?: string;
  };
  void packager;
  return {
    ...(rest as BuildOptions),
    external: [...(external ?? []), ...(exclude ?? [])],
    outExtension: { '.js': outputFileExtension ?? '.js' },
    absWorkingDir: ROOT,
    metafile: true,
    logLevel: 'error',
  };
}

/** The deployed stages' environment as far as it is static (no ${...}), NODE_OPTIONS included. */
function loadEnv(): NodeJS.ProcessEnv {
  const fixed = Object.entries(serverless.provider.environment ?? {}).filter(
    (entry): entry is [string, string] => typeof entry[1] === 'string' && !entry[1].includes('${'),
  );
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...Object.fromEntries(fixed) };
}

interface Built {
  name: string;
  file: string;
  bytes: number;
  sdk: string[];
  /** bytes of the output per package (node_modules) or source folder, largest first */
  inputs: [string, number][];
}

function packageOf(input: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
  if (m) return m[1]!;
  const parts = input.split('/');
  return parts.length > 2 ? `${parts[0]}/${parts[1]}` : input;
}

async function bundle(name: string, entry: BuildOptions): Promise<Built> {
  const outdir = join(OUT, name);
  const result = await build({ ...esbuildOptions(), ...entry, outdir });
  const [file, output] = Object.entries(result.metafile!.outputs).find(([f]) => !f.endsWith('.map')) as [string, Metafile['outputs'][string]];
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    byPackage.set(packageOf(input), (byPackage.get(packageOf(input)) ?? 0) + bytesInOutput);
  }
  const sdk = [...new Set(output.imports.filter((i) => i.external && i.path.startsWith('@aws-sdk/')).map((i) => i.path))];
  const path = join(ROOT, file);
  return { name, file: path, bytes: statSync(path).size, sdk, inputs: [...byPackage].sort((a, b) => b[1] - a[1]) };
}

/**
 * A fresh node process that require()s `modules` in order (nothing invoked): its wall time from spawn to
 * exit, and the time each require took inside it.
 */
function timeProcess(modules: string[], env: NodeJS.ProcessEnv): { wallMs: number; requireMs: number[] } {
  const code = `const ms = []; for (const m of ${JSON.stringify(modules)}) { const t = performance.now(); require(m); ms.push(performance.now() - t); } process.stdout.write(JSON.stringify(ms));`;
  const started = process.hrtime.bigint();
  const child = spawnSync(process.execPath, ['-e', code], { env, cwd: OUT, stdio: ['ignore', 'pipe', 'pipe'] });
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
  if (child.status !== 0) throw new Error(`loading ${modules.join(', ')} failed: ${child.stderr.toString().slice(0, 2000)}`);
  return { wallMs, requireMs: JSON.parse(child.stdout.toString()) as number[] };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round = (n: number, digits = 2) => Number(n.toFixed(digits));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function main() {
  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  const env = loadEnv();

  const hello = await bundle(HELLO, {
    stdin: { contents: "export const handler = async () => ({ statusCode: 200, body: 'hello world' });", loader: 'ts', resolveDir: ROOT, sourcefile: 'hello.ts' },
  });
  const functions: Built[] = [];
  for (const [name, { handler }] of Object.entries(serverless.functions)) {
    const entry = `${handler.slice(0, handler.lastIndexOf('.'))}.ts`;
    if (!existsSync(join(ROOT, entry))) throw new Error(`${name}: no ${entry}`);
    functions.push(await bundle(name, { entryPoints: [join(ROOT, entry)] }));
  }

  // one warm-up of each, so the first measured round does not pay for a cold file cache
  for (const b of [hello, ...functions]) timeProcess([b.file], env);

  const rows = [];
  for (const fn of functions) {
    const samples = { hello: [] as number[], bundle: [] as number[], sdk: [] as number[], sdkInBundle: [] as number[], ownCode: [] as number[] };
    for (let i = 0; i < RUNS; i++) {
      samples.hello.push(timeProcess([hello.file], env).wallMs);
      // the bundle's own @aws-sdk/* requires first, timed apart: the same modules it would load itself
      const loaded = timeProcess([...fn.sdk, fn.file], env);
      samples.bundle.push(loaded.wallMs);
      samples.sdkInBundle.push(sum(loaded.requireMs.slice(0, -1)));
      samples.ownCode.push(loaded.requireMs.at(-1)!);
      samples.sdk.push(timeProcess(fn.sdk, env).wallMs);
    }
    const [h, b, s] = [median(samples.hello), median(samples.bundle), median(samples.sdk)];
    const kb = fn.bytes / 1000;
    const ratio = b / h;
    rows.push({
      function: fn.name,
      bytes: fn.bytes,
      kb: round(kb, 1),
      helloMs: round(h, 1),
      loadMs: round(b, 1),
      sdkOnlyMs: round(s, 1),
      sdkRequireMs: round(median(samples.sdkInBundle), 1),
      ownCodeRequireMs: round(median(samples.ownCode), 1),
      loadRatio: round(ratio),
      sdkOnlyRatio: round(s / h),
      sizeVerdict: fn.bytes <= MAX_BYTES ? 'ok' : 'OVER',
      loadVerdict: ratio <= MAX_LOAD_RATIO ? 'ok' : 'OVER',
      largest: fn.inputs.slice(0, 6).map(([pkg, bytes]) => `${pkg} ${round(bytes / 1000, 1)}`).join(', '),
      sdk: fn.sdk,
    });
  }

  console.table(
    rows.map((r) => ({
      function: r.function,
      'KB min.': r.kb,
      'load ms (median)': r.loadMs,
      'hello ms': r.helloMs,
      'load / hello': r.loadRatio,
      'SDK only / hello': r.sdkOnlyRatio,
      'require ms: SDK + own code': `${r.sdkRequireMs} + ${r.ownCodeRequireMs}`,
      [`≤ ${MAX_BYTES / 1000} KB`]: r.sizeVerdict,
      [`≤ ${MAX_LOAD_RATIO}×`]: r.loadVerdict,
    })),
  );
  const biggest = rows.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  console.log(`hello world: ${hello.bytes} bytes. Largest bundle ${biggest.function}: ${biggest.largest} (KB)`);
  const sdkFloor = Math.min(...rows.map((r) => r.sdkOnlyRatio));
  if (sdkFloor > MAX_LOAD_RATIO)
    console.log(`loading the @aws-sdk/* modules alone takes ≥ ${sdkFloor}× hello world: no bundle that requires them at load can meet ${MAX_LOAD_RATIO}×`);

  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  // other benches keep their figures in the same file under their own keys
  const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  const bundles = {
    measuredAt: new Date().toISOString(),
    maxBytes: MAX_BYTES,
    maxLoadRatio: MAX_LOAD_RATIO,
    runs: RUNS,
    nodeOptions: env.NODE_OPTIONS ?? '',
    node: process.version,
    helloBytes: hello.bytes,
    build: relative(ROOT, OUT),
    rows: rows.map(({ largest, ...r }) => ({ ...r, largestKb: largest })),
    maxKb: round(Math.max(...rows.map((r) => r.kb)), 1),
    worstLoadRatio: round(Math.max(...rows.map((r) => r.loadRatio))),
    worstSdkOnlyRatio: round(Math.max(...rows.map((r) => r.sdkOnlyRatio))),
    verdict: {
      size: rows.every((r) => r.sizeVerdict === 'ok') ? 'ok' : 'OVER',
      load: rows.every((r) => r.loadVerdict === 'ok') ? 'ok' : 'OVER',
    },
  };
  writeFileSync(out, `${JSON.stringify({ ...previous, bundles }, null, 2)}\n`);
  console.log(`written ${out} (bundles merged)`);
  process.exit(bundles.verdict.size === 'ok' && bundles.verdict.load === 'ok' ? 0 : 1);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
