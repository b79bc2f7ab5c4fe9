import { Duration } from 'aws-cdk-lib';
import type { IHttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TextWidget,
  TreatMissingData,
  type IMetric,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  GROUP_DIMENSION,
  METRICS_NAMESPACE,
  REGISTRY_METRICS,
  SERVICE_NAME,
  type RegistryMetric,
} from '../../lambda/config/observability';
import { FUNCTION_GROUPS } from '../../lambda/config/routes';

/** When the alarms fire, each over 5-minute periods. */
export interface RegistryAlarmThresholds {
  /** Percent of API requests answered 5xx, in 2 of 3 periods. @default 5 */
  readonly api5xxPercent: number;
  /**
   * Lambda errors (crashes, timeouts, out of memory: the handlers turn every thrown error into a
   * response, so these are never a client's doing), summed over the functions, in one period.
   * @default 1
   */
  readonly lambdaErrors: number;
  /** Throttled invocations, summed over the functions, in one period. @default 1 */
  readonly lambdaThrottles: number;
  /** Read and write throttle events of the metadata table, in one period. @default 5 */
  readonly dynamoDbThrottles: number;
  /** Messages waiting in a dead-letter queue. @default 1 */
  readonly deadLetterMessages: number;
}

export const ALARM_DEFAULTS: RegistryAlarmThresholds = {
  api5xxPercent: 5,
  lambdaErrors: 1,
  lambdaThrottles: 1,
  dynamoDbThrottles: 5,
  deadLetterMessages: 1,
};

const PERIOD = Duration.minutes(5);

export interface RegistryMonitoringProps {
  readonly httpApi: IHttpApi;
  /** The functions to watch, by name (the endpoint groups, and any scheduled function). */
  readonly functions: Readonly<Record<string, IFunction>>;
  readonly table: ITableV2;
  /**
   * Sources of the registry's own metrics on the dashboard (`functionGroup` dimension values).
   * @default FUNCTION_GROUPS
   */
  readonly metricSources?: readonly string[];
  /**
   * Dead-letter queues whose depth should alarm.
   * @default - none
   */
  readonly deadLetterQueues?: Readonly<Record<string, IQueue>>;
  /**
   * Where alarms (and their return to OK) are sent.
   * @default - alarms only change state; nothing is notified
   */
  readonly alarmTopic?: ITopic;
  /**
   * @default ALARM_DEFAULTS
   */
  readonly thresholds?: Partial<RegistryAlarmThresholds>;
}

/**
 * A CloudWatch dashboard (API traffic, errors and latency; each function's errors, throttles and
 * duration; DynamoDB throttles; the registry's own EMF metrics) and the alarms worth waking someone
 * for. Every alarm treats missing data as fine: an idle registry emits nothing.
 *
 * Cost: $0.10 per month per metric an alarm reads (about $1.40 for the four standard alarms with
 * five functions, plus $0.10 per dead-letter queue); the dashboard is free within an account's
 * first three, $3 a month beyond.
 */
export class RegistryMonitoring extends Construct {
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  constructor(scope: Construct, id: string, props: RegistryMonitoringProps) {
    super(scope, id);
    const thresholds = { ...ALARM_DEFAULTS, ...props.thresholds };
    const { httpApi, table } = props;
    const functions = Object.entries(props.functions);
    const sources = props.metricSources ?? FUNCTION_GROUPS;
    const queues = Object.entries(props.deadLetterQueues ?? {});

    const requests = httpApi.metricCount({ period: PERIOD, statistic: 'Sum' });
    const serverErrors = httpApi.metricServerError({ period: PERIOD, statistic: 'Sum' });
    const clientErrors = httpApi.metricClientError({ period: PERIOD, statistic: 'Sum' });
    const api5xxRate = new MathExpression({
      expression: 'IF(requests > 0, 100 * errors / requests, 0)',
      usingMetrics: { requests, errors: serverErrors },
      label: 'API 5xx (% of requests)',
      period: PERIOD,
    });
    const sum = (label: string, metrics: [string, IMetric][]) =>
      new MathExpression({
        expression: metrics.map(([k]) => k).join(' + ') || '0',
        usingMetrics: Object.fromEntries(metrics),
        label,
        period: PERIOD,
      });
    const fnMetric = (kind: 'errors' | 'throttles') =>
      functions.map(([name, fn], i): [string, IMetric] => [
        `${kind}${i}`,
        kind === 'errors'
          ? fn.metricErrors({ period: PERIOD, statistic: 'Sum', label: name })
          : fn.metricThrottles({ period: PERIOD, statistic: 'Sum', label: name }),
      ]);
    const tableThrottles = (name: string) => table.metric(name, { period: PERIOD, statistic: 'Sum', label: name });
    const dynamoDbThrottles = sum('DynamoDB throttle events', [
      ['reads', tableThrottles('ReadThrottleEvents')],
      ['writes', tableThrottles('WriteThrottleEvents')],
    ]);

    this.alarm(
      'Api5xxRate',
      api5xxRate,
      thresholds.api5xxPercent,
      'API requests answered 5xx above the threshold (%)',
      3,
      2,
    );
    this.alarm(
      'LambdaErrors',
      sum('Lambda errors', fnMetric('errors')),
      thresholds.lambdaErrors,
      'Registry functions crashed or timed out',
    );
    this.alarm(
      'LambdaThrottles',
      sum('Lambda throttles', fnMetric('throttles')),
      thresholds.lambdaThrottles,
      'Registry function invocations were throttled (concurrency limit)',
    );
    this.alarm(
      'DynamoDbThrottles',
      dynamoDbThrottles,
      thresholds.dynamoDbThrottles,
      'The metadata table throttled reads or writes',
    );
    for (const [name, queue] of queues) {
      this.alarm(
        `DeadLetters${name}`,
        queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum' }),
        thresholds.deadLetterMessages,
        `Messages are waiting in the dead-letter queue ${name}`,
      );
    }
    if (props.alarmTopic) {
      const action = new SnsAction(props.alarmTopic);
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }

    const registry = (metric: RegistryMetric, source: string, statistic = 'Sum') =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: metric,
        dimensionsMap: { service: SERVICE_NAME, [GROUP_DIMENSION]: source },
        period: PERIOD,
        statistic,
        label: `${source} ${metric}${statistic === 'Sum' ? '' : ` ${statistic}`}`,
      });
    const perFunction = (title: string, metric: (fn: IFunction, name: string) => IMetric) =>
      new GraphWidget({ title, width: 8, left: functions.map(([name, fn]) => metric(fn, name)) });
    const graph = (title: string, left: IMetric[], width = 8) => new GraphWidget({ title, width, left });

    this.dashboard = new Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(3) });
    this.dashboard.addWidgets(
      new TextWidget({
        markdown:
          '# Serverless OCI registry\nAPI Gateway traffic, the functions, the metadata table and the registry’s own metrics (namespace `' +
          METRICS_NAMESPACE +
          '`).',
        width: 24,
        height: 2,
      }),
    );
    this.dashboard.addWidgets(
      graph('API requests', [requests]),
      graph('API 4xx and 5xx', [clientErrors, serverErrors]),
      graph('API latency p50 / p99 (ms)', [
        httpApi.metricLatency({ period: PERIOD, statistic: 'p50', label: 'p50' }),
        httpApi.metricLatency({ period: PERIOD, statistic: 'p99', label: 'p99' }),
      ]),
    );
    this.dashboard.addWidgets(
      perFunction('Lambda errors', (fn, name) => fn.metricErrors({ period: PERIOD, statistic: 'Sum', label: name })),
      perFunction('Lambda throttles', (fn, name) =>
        fn.metricThrottles({ period: PERIOD, statistic: 'Sum', label: name }),
      ),
      perFunction('Lambda duration p99 (ms)', (fn, name) =>
        fn.metricDuration({ period: PERIOD, statistic: 'p99', label: name }),
      ),
    );
    this.dashboard.addWidgets(
      graph('Pushes and pulls (manifests)', [
        registry(REGISTRY_METRICS.pushes, 'manifests'),
        registry(REGISTRY_METRICS.pulls, 'manifests'),
      ]),
      graph(
        'Blob bytes pushed',
        sources
          .filter((s) => s === 'blobs' || s === 'uploader')
          .map((s) => registry(REGISTRY_METRICS.blobBytesPushed, s)),
      ),
      graph(
        'Registry errors (4xx, 5xx)',
        sources.flatMap((s) => [registry(REGISTRY_METRICS.errors4xx, s), registry(REGISTRY_METRICS.errors5xx, s)]),
      ),
    );
    this.dashboard.addWidgets(
      graph(
        'Registry latency p99 (ms)',
        sources.map((s) => registry(REGISTRY_METRICS.latency, s, 'p99')),
      ),
      graph('DynamoDB throttle events', [tableThrottles('ReadThrottleEvents'), tableThrottles('WriteThrottleEvents')]),
      queues.length > 0
        ? graph(
            'Dead-letter queue depth',
            queues.map(([name, q]) =>
              q.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: 'Maximum', label: name }),
            ),
          )
        : new TextWidget({ markdown: 'No dead-letter queue in this stack.', width: 8, height: 6 }),
    );
    this.dashboard.addWidgets(new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms, width: 24 }));
  }

  private alarm(
    id: string,
    metric: IMetric,
    threshold: number,
    description: string,
    evaluationPeriods = 1,
    datapointsToAlarm = 1,
  ): void {
    this.alarms.push(
      new Alarm(this, id, {
        metric,
        threshold,
        evaluationPeriods,
        datapointsToAlarm,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
        alarmDescription: `Serverless OCI registry: ${description}`,
      }),
    );
  }
}
