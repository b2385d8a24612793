/**
 * `serverless package` of every kind of stage, as a deployment would run it (osls, serverless-esbuild,
 * the per-function roles): `local` (npm start's params) and a deployed stage (every stage other than
 * `local` takes the `default` params, so `prod` stands for all of them). The CloudFormation it writes
 * must stay within CloudFormation's limits and carry what the README promises: the table's stream,
 * the events' bus and dead-letter queue, the alarms and dashboard, no local endpoint in a deployed stage.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { loadYaml, ROOT, SECRET_ENV_NAMES, type Yaml } from './serverlessConfig.ts';

const run = promisify(execFile);
const functions = Object.keys(loadYaml('serverless.yml').functions);
const out = mkdtempSync(join(tmpdir(), 'koogallery-package-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

async function packageStage(stage: string): Promise<Yaml> {
  const dir = join(out, stage);
  await run(process.execPath, [`${ROOT}node_modules/osls/bin/serverless.js`, 'package', '--stage', stage, '--package', dir], {
    cwd: ROOT,
    // packaging talks to no AWS service; the SDK still wants some credentials and a region
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'package', AWS_SECRET_ACCESS_KEY: 'package', AWS_REGION: 'ap-southeast-1', SLS_TELEMETRY_DISABLED: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  for (const fn of functions) expect(existsSync(join(dir, `${fn}.zip`)), `${stage}: ${fn}.zip`).toBe(true);
  return JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8'));
}

const lambdaEnvironments = (template: Yaml) =>
  Object.values(template.Resources as Record<string, Yaml>)
    .filter((r) => r.Type === 'AWS::Lambda::Function')
    .map((r) => r.Properties.Environment.Variables as Record<string, unknown>);

describe('serverless package of every stage', () => {
  it('a deployed stage (prod): within CloudFormation limits, with the stream, the events, the alarms and no local endpoint', async () => {
    const template = await packageStage('prod');
    const resources = template.Resources as Record<string, Yaml>;
    expect(Object.keys(resources).length).toBeLessThanOrEqual(500);
    expect(JSON.stringify(template).length).toBeLessThan(1_000_000);
    expect(resources.Table.Properties.StreamSpecification).toEqual({ StreamViewType: 'NEW_AND_OLD_IMAGES' });
    expect(resources.EventBus.Properties.Name).toBe('koogallery-merchant-prod');
    expect(resources.EventsDeadLetterQueue.Type).toBe('AWS::SQS::Queue');
    expect(resources.Dashboard.Properties.DashboardName).toBe('koogallery-merchant-prod');
    const alarms = Object.values(resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThan(functions.length);
    const mapping = Object.values(resources).find((r) => r.Type === 'AWS::Lambda::EventSourceMapping');
    expect(mapping.Properties).toMatchObject({ FunctionResponseTypes: ['ReportBatchItemFailures'], BisectBatchOnFunctionError: true });
    expect(mapping.Properties.DestinationConfig.OnFailure.Destination).toEqual({ 'Fn::GetAtt': ['EventsDeadLetterQueue', 'Arn'] });
    // every Ref, GetAtt and DependsOn names a resource of the template (or a pseudo parameter)
    const text = JSON.stringify(template);
    const named = new Set([
      ...[...text.matchAll(/"Ref":"([^"]+)"/g)].map((m) => m[1]!),
      ...[...text.matchAll(/"Fn::GetAtt":\["([^"]+)"/g)].map((m) => m[1]!),
      ...Object.values(resources).flatMap((r) => (r.DependsOn === undefined ? [] : [r.DependsOn].flat())),
    ]);
    expect([...named].filter((name) => !(name in resources) && !name.startsWith('AWS::') && !(name in (template.Parameters ?? {})))).toEqual([]);
    const environments = lambdaEnvironments(template);
    expect(environments).toHaveLength(functions.length);
    for (const env of environments) {
      expect(env.DYNAMODB_ENDPOINT).toBe('');
      expect(env.SECRETS_PARAMETER).toBe('/koogallery/prod/secrets');
      expect(env.POWERTOOLS_METRICS_NAMESPACE).toBe('KooGalleryMerchant/prod');
      // no secret in a deployed function's environment (the local stage's pass-through resolves to nothing)
      for (const name of SECRET_ENV_NAMES) expect(env[name] ?? '', name).toBe('');
    }
  }, 900_000);

  it('the local stage (npm start): secrets from the environment, no secrets parameter', async () => {
    const template = await packageStage('local');
    for (const env of lambdaEnvironments(template)) expect(env.SECRETS_PARAMETER).toBe('');
  }, 900_000);
});
