/**
 * The service's CloudWatch alarms and dashboard, derived from serverless.yml so that a function added
 * there is watched without anyone remembering to: `npm run monitoring` writes infra/monitoring.yml
 * (included by serverless.yml; infra/monitoring.test.ts fails when the two drift apart).
 *
 * Every alarm notifies the AlarmTopic SNS topic (subscribe to it: README "Deploy"):
 * - each function: errors or throttles (Lambda `Errors` + `Throttles`, any in 5 minutes). The handlers
 *   answer the marketplace in its own terms, so an error is a crash or a timeout, never a refusal;
 * - each scheduled job: items it could not finish (`failed` + `deferred` of its run metrics) in three
 *   periods in a row: work stuck on the due index, or a job that keeps failing;
 * - provisioning older than 2 h: provisioningWatch's `provisioning-stuck` operator alert (a metric
 *   filter on its log);
 * - reconciliation: any drift the daily reconcile could not fix (`alerted`);
 * - the integration events: anything in the dead-letter queue, and the stream relay falling behind
 *   (IteratorAge of publishEvents over 15 minutes).
 */
import yaml from 'js-yaml';
import { scheduledFunctions, schedulesOf, type Yaml } from './serverlessConfig.ts';

/** How the Serverless Framework names a function's resources: `produce` → `ProduceLambdaFunction`. */
export const logicalIdOf = (fn: string) => fn.charAt(0).toUpperCase() + fn.slice(1).replace(/-/g, 'Dash').replace(/_/g, 'Underscore');

/** the namespace of the jobs' metrics (POWERTOOLS_METRICS_NAMESPACE in serverless.yml) */
export const METRICS_NAMESPACE = 'KooGalleryMerchant/${sls:stage}';
const SERVICE = 'koogallery-merchant';
const topic = [{ Ref: 'AlarmTopic' }];

/** The period a job's stuck alarm looks at: its schedule's interval, at least 15 minutes. */
export function jobPeriodSeconds(schedules: string[]): number {
  const intervals = schedules.map((s) => {
    const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(s);
    if (rate) return Number(rate[1]) * { minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86_400, days: 86_400 }[rate[2] as 'minute'];
    // cron: hourly when the hour field is `*`, else daily
    const cron = /^cron\((\S+) (\S+) /.exec(s);
    if (cron) return cron[2] === '*' ? 3600 : 86_400;
    throw new Error(`monitoring: unknown schedule ${s}`);
  });
  return Math.max(900, Math.min(...intervals));
}


function lambdaMetric(id: string, fn: string, name: string) {
  return {
    Id: id,
    ReturnData: false,
    MetricStat: {
      Metric: { Namespace: 'AWS/Lambda', MetricName: name, Dimensions: [{ Name: 'FunctionName', Value: { Ref: `${logicalIdOf(fn)}LambdaFunction` } }] },
      Period: 300,
      Stat: 'Sum',
    },
  };
}

function jobMetric(id: string, job: string, name: string, period: number) {
  return {
    Id: id,
    ReturnData: false,
    MetricStat: {
      Metric: {
        Namespace: METRICS_NAMESPACE,
        MetricName: name,
        Dimensions: [
          { Name: 'service', Value: SERVICE },
          { Name: 'job', Value: job },
        ],
      },
      Period: period,
      Stat: 'Sum',
    },
  };
}

const alarm = (name: string, description: string, properties: Record<string, unknown>) => ({
  Type: 'AWS::CloudWatch::Alarm',
  Properties: {
    AlarmName: `${SERVICE}-\${sls:stage}-${name}`,
    AlarmDescription: description,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    Threshold: 1,
    TreatMissingData: 'notBreaching',
    AlarmActions: topic,
    OKActions: topic,
    ...properties,
  },
});

/** The job metrics the alarms read: every job's run summary must carry them (infra/monitoring.test.ts runs them). */
export const JOB_ALARM_METRICS = ['failed', 'deferred'] as const;
/** reconcile's count of drifts left to a person */
export const RECONCILE_ALERTED_METRIC = 'driftAlerted';

export function monitoringResources(config: Yaml): Record<string, unknown> {
  const functions = Object.keys(config.functions ?? {});
  const jobs = scheduledFunctions(config);
  const resources: Record<string, unknown> = {
    AlarmTopic: {
      Type: 'AWS::SNS::Topic',
      Properties: { TopicName: `${SERVICE}-\${sls:stage}-alarms`, KmsMasterKeyId: 'alias/aws/sns' },
    },
  };
  for (const fn of functions)
    resources[`${logicalIdOf(fn)}ErrorsAlarm`] = alarm(`${fn}-errors`, `${fn}: a crash, a timeout or a throttle (Lambda Errors + Throttles) in the last 5 minutes`, {
      EvaluationPeriods: 1,
      Metrics: [
        { Id: 'failures', Label: 'errors and throttles', Expression: 'FILL(errors, 0) + FILL(throttles, 0)', ReturnData: true },
        lambdaMetric('errors', fn, 'Errors'),
        lambdaMetric('throttles', fn, 'Throttles'),
      ],
    });
  for (const job of jobs) {
    const period = jobPeriodSeconds(schedulesOf(config.functions[job]));
    resources[`${logicalIdOf(job)}StuckAlarm`] = alarm(
      `${job}-stuck`,
      `${job}: items it could not finish (failed or deferred to the next run) in 3 periods of ${period / 60} minutes in a row`,
      {
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        Metrics: [
          { Id: 'stuck', Label: 'failed + deferred', Expression: JOB_ALARM_METRICS.map((m) => `FILL(${m}, 0)`).join(' + '), ReturnData: true },
          ...JOB_ALARM_METRICS.map((m) => jobMetric(m, job, m, period)),
        ],
      },
    );
  }
  if (functions.includes('provisioningWatch')) {
    resources.ProvisioningStuckMetricFilter = {
      Type: 'AWS::Logs::MetricFilter',
      DependsOn: ['ProvisioningWatchLogGroup'],
      Properties: {
        LogGroupName: { Ref: 'ProvisioningWatchLogGroup' },
        FilterPattern: '{ $.alert = "provisioning-stuck" }',
        MetricTransformations: [{ MetricNamespace: METRICS_NAMESPACE, MetricName: 'ProvisioningStuck', MetricValue: '1', Unit: 'Count' }],
      },
    };
    resources.ProvisioningStuckAlarm = alarm('provisioning-stuck', 'An instance is still provisioning 2 h after its first newInstance (the marketplace unsubscribes it at 3 h)', {
      EvaluationPeriods: 1,
      Namespace: METRICS_NAMESPACE,
      MetricName: 'ProvisioningStuck',
      Statistic: 'Sum',
      Period: 900,
    });
  }
  if (functions.includes('reconcile'))
    resources.ReconcileDriftAlarm = alarm('reconcile-drift', 'The daily reconciliation found drift it may not fix (see the reconcile-drift operator alerts in its log)', {
      EvaluationPeriods: 1,
      Metrics: [
        { Id: 'drift', Label: 'drift alerted', Expression: `FILL(${RECONCILE_ALERTED_METRIC}, 0)`, ReturnData: true },
        jobMetric(RECONCILE_ALERTED_METRIC, 'reconcile', RECONCILE_ALERTED_METRIC, 3600),
      ],
    });
  if (functions.includes('publishEvents')) {
    resources.EventsDeadLetterAlarm = alarm('events-dead-letters', 'Integration events could not be published: stream batches are in the dead-letter queue (README "Integration events")', {
      EvaluationPeriods: 1,
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['EventsDeadLetterQueue', 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
    });
    resources.EventsLagAlarm = alarm('events-lag', 'The integration events fall behind: the oldest stream record waiting for publishEvents is over 15 minutes old', {
      EvaluationPeriods: 3,
      Threshold: 900_000,
      Namespace: 'AWS/Lambda',
      MetricName: 'IteratorAge',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: 'PublishEventsLambdaFunction' } }],
      Statistic: 'Maximum',
      Period: 300,
    });
  }
  const alarms = Object.keys(resources).filter((id) => id.endsWith('Alarm'));
  resources.Dashboard = {
    Type: 'AWS::CloudWatch::Dashboard',
    Properties: {
      DashboardName: `${SERVICE}-\${sls:stage}`,
      DashboardBody: {
        'Fn::Sub': [JSON.stringify(dashboard()), { AlarmsList: { 'Fn::Join': ['","', alarms.map((id) => ({ 'Fn::GetAtt': [id, 'Arn'] }))] } }],
      },
    },
  };
  return resources;
}

/** The dashboard: SEARCH expressions find every function of the stage, so it needs no list. */
function dashboard() {
  const prefix = `${SERVICE}-\${sls:stage}`;
  // a partial term: every function whose name holds the stage's prefix
  const lambda = (metric: string, stat: string) => `SEARCH('{AWS/Lambda,FunctionName} MetricName="${metric}" ${prefix}', '${stat}', 300)`;
  const jobs = (metric: string) => `SEARCH('{${METRICS_NAMESPACE},service,job} MetricName="${metric}"', 'Sum', 3600)`;
  const widget = (x: number, y: number, title: string, expressions: string[], extra: Record<string, unknown> = {}) => ({
    type: 'metric',
    x,
    y,
    width: 12,
    height: 6,
    properties: { title, region: '${AWS::Region}', view: 'timeSeries', stacked: false, metrics: expressions.map((expression, i) => [{ expression, id: `e${i}` }]), ...extra },
  });
  return {
    widgets: [
      widget(0, 0, 'Errors per function', [lambda('Errors', 'Sum')]),
      widget(12, 0, 'Throttles per function', [lambda('Throttles', 'Sum')]),
      widget(0, 6, 'Invocations per function', [lambda('Invocations', 'Sum')]),
      widget(12, 6, 'Duration p99 per function (ms; the marketplace waits 5 000)', [lambda('Duration', 'p99')]),
      widget(0, 12, 'Jobs: items done per run', [jobs('done')]),
      widget(12, 12, 'Jobs: items failed or deferred (stuck)', [jobs('failed'), jobs('deferred')]),
      widget(0, 18, 'Integration events published / failed', [
        `SEARCH('{${METRICS_NAMESPACE},service} MetricName="EventsPublished"', 'Sum', 300)`,
        `SEARCH('{${METRICS_NAMESPACE},service} MetricName="EventsFailed"', 'Sum', 300)`,
      ]),
      widget(12, 18, 'Provisioning stuck 2 h, reconciliation drift', [
        `SEARCH('{${METRICS_NAMESPACE}} MetricName="ProvisioningStuck"', 'Sum', 900)`,
        jobs(RECONCILE_ALERTED_METRIC),
      ]),
      {
        type: 'alarm',
        x: 0,
        y: 24,
        width: 24,
        height: 4,
        properties: { title: 'Service alarms', alarms: ['${AlarmsList}'] },
      },
    ],
  };
}

/** infra/monitoring.yml as `npm run monitoring` writes it. */
export function monitoringYaml(config: Yaml): string {
  const header =
    '# GENERATED by `npm run monitoring` from serverless.yml (infra/monitoring.ts): do not edit by hand.\n' +
    '# The alarms and the dashboard of a stage; serverless.yml includes this file in its resources.\n';
  return header + yaml.dump({ Resources: monitoringResources(config) }, { lineWidth: 160, noRefs: true });
}
