/**
 * The alarms and the dashboard (infra/monitoring.yml): generated from serverless.yml and committed in
 * step with it, covering every function and every job, and reading metrics the code really emits
 * (every job is run here and its run summary must carry the counts its alarm adds up).
 */
import { readFileSync } from 'node:fs';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '#shared/testing/harness';
import { JOB_ALARM_METRICS, METRICS_NAMESPACE, RECONCILE_ALERTED_METRIC, jobPeriodSeconds, logicalIdOf, monitoringResources, monitoringYaml } from './monitoring.ts';
import { loadYaml, ROOT, scheduledFunctions, type Yaml } from './serverlessConfig.ts';

const config = loadYaml('serverless.yml');
const functions = Object.keys(config.functions);
const jobs = scheduledFunctions(config);
const resources = monitoringResources(config) as Record<string, Yaml>;

describe('monitoring (infra/monitoring.yml)', () => {
  it('is what `npm run monitoring` makes of serverless.yml today, and serverless.yml deploys it', () => {
    expect(readFileSync(`${ROOT}infra/monitoring.yml`, 'utf8')).toBe(monitoringYaml(config));
    expect(config.resources).toContain('${file(./infra/monitoring.yml)}');
    expect(config.provider.environment.POWERTOOLS_METRICS_NAMESPACE).toBe(METRICS_NAMESPACE);
  });

  it('every function has an errors-or-throttles alarm on its own Lambda metrics', () => {
    expect(functions.length).toBeGreaterThan(30);
    for (const fn of functions) {
      const alarm = resources[`${logicalIdOf(fn)}ErrorsAlarm`];
      expect(alarm, fn).toBeDefined();
      const names = alarm.Properties.Metrics.filter((m: Yaml) => m.MetricStat).map((m: Yaml) => m.MetricStat.Metric.MetricName);
      expect(names.sort()).toEqual(['Errors', 'Throttles']);
      for (const m of alarm.Properties.Metrics.filter((x: Yaml) => x.MetricStat))
        expect(m.MetricStat.Metric.Dimensions).toEqual([{ Name: 'FunctionName', Value: { Ref: `${logicalIdOf(fn)}LambdaFunction` } }]);
    }
  });

  it('every scheduled job has a stuck alarm over three of its own periods', () => {
    expect(jobs.length).toBeGreaterThanOrEqual(9);
    for (const job of jobs) {
      const alarm = resources[`${logicalIdOf(job)}StuckAlarm`];
      expect(alarm, job).toBeDefined();
      expect(alarm.Properties).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 3 });
    }
    expect(jobPeriodSeconds(['rate(1 minute)'])).toBe(900);
    expect(jobPeriodSeconds(['rate(1 hour)'])).toBe(3600);
    expect(jobPeriodSeconds(['cron(5 * * * ? *)', 'cron(10 0 * * ? *)'])).toBe(3600);
    expect(() => jobPeriodSeconds(['every now and then'])).toThrow();
  });

  it('watches provisioning older than 2 h, reconciliation drift, the events dead-letter queue and lag; every alarm notifies the topic', () => {
    for (const id of ['ProvisioningStuckAlarm', 'ReconcileDriftAlarm', 'EventsDeadLetterAlarm', 'EventsLagAlarm']) expect(resources[id], id).toBeDefined();
    // the filter matches the alert provisioningWatch raises (shared/domain/provisioning.ts)
    const kind = /\$\.alert = "([^"]+)"/.exec(resources.ProvisioningStuckMetricFilter.Properties.FilterPattern)![1];
    expect(readFileSync(`${ROOT}shared/domain/provisioning.ts`, 'utf8')).toContain(`kind: '${kind}'`);
    const alarms = Object.entries(resources).filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm');
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties.AlarmActions, id).toEqual([{ Ref: 'AlarmTopic' }]);
      expect(alarm.Properties.AlarmName, id).toMatch(/^koogallery-merchant-\$\{sls:stage\}-/);
    }
    // the dashboard lists every alarm
    const sub = resources.Dashboard.Properties.DashboardBody['Fn::Sub'];
    expect(sub[1].AlarmsList['Fn::Join'][1]).toHaveLength(alarms.length);
    expect(JSON.parse(sub[0]).widgets.length).toBeGreaterThan(5);
  });
});

describe('the metrics the job alarms read are the ones the jobs emit', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.close());
  const context = { functionName: 'job', awsRequestId: 'r', getRemainingTimeInMillis: () => 60_000 } as unknown as Context;

  it.each(jobs)('%s', async (job) => {
    const { handler } = (await import(`${ROOT}functions/${job}/handler.ts`)) as { handler: (e: unknown, c: Context) => Promise<Record<string, unknown>> };
    const summary = await handler({ time: new Date().toISOString() }, context);
    for (const metric of JOB_ALARM_METRICS) expect(typeof summary[metric], `${job}.${metric}`).toBe('number');
    if (job === 'reconcile') expect(typeof summary[RECONCILE_ALERTED_METRIC]).toBe('number');
  });
});
