import { App, SecretValue, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import { AttributeType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { ENV } from '../../lambda/config/env';
import { METRICS_NAMESPACE } from '../../lambda/config/observability';
import { MODE_ITEM_KEY } from '../../lambda/config/table-schema';
import { FUNCTION_GROUPS } from '../../lambda/config/routes';
import { ALARM_DEFAULTS, RegistryMonitoring } from '../../lib/constructs/monitoring';
import {
  acknowledgements,
  functionId,
  grantsOf,
  grantsOfRole,
  synthRegistry,
  UPLOAD_GRANTS,
  violations,
  type Synthesized,
  logicalId,
} from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The statement that lets a role read the mode item, and nothing else of the table. */
const MODE_STATEMENT = {
  Action: 'dynamodb:GetItem',
  Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': [MODE_ITEM_KEY.pk] } },
};

const resources = (s: Synthesized, type: string): Record<string, Json> => s.template.findResources(type);
/** The DynamoDB statements of a role's policies, by the role's logical id. */
const dynamodbStatements = (s: Synthesized, roleId: string): Json[] =>
  Object.values(resources(s, 'AWS::IAM::Policy'))
    .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[])
    .filter((st) => JSON.stringify(st.Action).includes('dynamodb:'));
const envOf = (s: Synthesized, group: (typeof FUNCTION_GROUPS)[number]): Record<string, unknown> =>
  resources(s, 'AWS::Lambda::Function')[functionId(s.stack, group)]?.Properties.Environment.Variables;
const alarm = (s: Synthesized, id: string): Json => {
  const found = Object.entries(resources(s, 'AWS::CloudWatch::Alarm')).find(([logicalId]) =>
    logicalId.startsWith(`Monitoring${id}`),
  );
  if (!found) throw new Error(`no alarm ${id}`);
  return found[1].Properties;
};
/** The metrics an alarm's expression reads, as `<namespace> <name>`. */
const alarmMetrics = (props: Json): string[] =>
  (props.Metrics as Json[])
    .filter((m) => m.MetricStat)
    .map((m) => `${m.MetricStat.Metric.Namespace} ${m.MetricStat.Metric.MetricName}`)
    .sort();

describe('observability and maintenance mode, default props', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry();
  });
  afterAll(() => s?.dispose());

  test('the mode is an item of the metadata table: no SSM parameter, and the table is an output for the admin CLI', () => {
    s.template.resourceCountIs('AWS::SSM::Parameter', 0);
    s.template.hasOutput('MetadataTable', { Value: { Ref: logicalId(s.stack.storage.table) } });
    s.template.templateMatches({ Outputs: { ModeParameter: Match.absent() } });
  });

  test('only the functions that serve writes or /health read the mode: GetItem on the mode partition alone, and the flag', () => {
    for (const group of FUNCTION_GROUPS) {
      const reads = group === 'blobs' || group === 'manifests' || group === 'base';
      const fn = resources(s, 'AWS::Lambda::Function')[functionId(s.stack, group)]!;
      const modeStatements = dynamodbStatements(s, fn.Properties.Role['Fn::GetAtt'][0]).filter(
        (st) => JSON.stringify(st.Condition) === JSON.stringify(MODE_STATEMENT.Condition),
      );
      expect([group, modeStatements]).toEqual([group, reads ? [expect.objectContaining(MODE_STATEMENT)] : []]);
      expect([group, envOf(s, group)[ENV.modeInTable]]).toEqual([group, reads ? 'true' : undefined]);
      expect([group, grantsOf(s.stack, s.template, group).filter((g) => g.startsWith('ssm:'))]).toEqual([group, []]);
    }
  });

  test('the base function reads the table for /health and the mode, limited to those two partitions', () => {
    expect(grantsOf(s.stack, s.template, 'base').filter((g) => g.startsWith('dynamodb:'))).toEqual([
      'dynamodb:GetItem table',
    ]);
    const base = resources(s, 'AWS::Lambda::Function')[functionId(s.stack, 'base')]!;
    expect(dynamodbStatements(s, base.Properties.Role['Fn::GetAtt'][0])).toEqual([
      expect.objectContaining({
        Action: 'dynamodb:GetItem',
        Condition: { 'ForAllValues:StringEquals': { 'dynamodb:LeadingKeys': ['health'] } },
      }),
      expect.objectContaining(MODE_STATEMENT),
    ]);
  });

  test('functions log at INFO unless told otherwise, and are not traced', () => {
    for (const group of FUNCTION_GROUPS) expect(envOf(s, group)[ENV.logLevel]).toBe('INFO');
    s.template.allResourcesProperties('AWS::Lambda::Function', { TracingConfig: Match.absent() });
  });

  test('a dashboard with the API, function, table and registry widgets', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(Object.values(resources(s, 'AWS::CloudWatch::Dashboard'))[0]?.Properties.DashboardBody);
    for (const title of [
      'API requests',
      'API 4xx and 5xx',
      'API latency p50 / p99 (ms)',
      'Lambda errors',
      'Lambda throttles',
      'Lambda duration p99 (ms)',
      'Pushes and pulls (manifests)',
      'Blob bytes pushed',
      'Registry errors (4xx, 5xx)',
      'Registry latency p99 (ms)',
      'DynamoDB throttle events',
      'Alarms',
    ]) {
      expect([title, body.includes(`\\"title\\":\\"${title}\\"`)]).toEqual([title, true]);
    }
    for (const metric of ['Pushes', 'Pulls', 'BlobBytesPushed', 'Errors4xx', 'Errors5xx', 'Latency']) {
      expect([metric, body.includes(`\\"${METRICS_NAMESPACE}\\",\\"${metric}\\"`)]).toEqual([metric, true]);
    }
    expect(body).toContain('\\"stat\\":\\"p99\\"');
    expect(body).toContain('\\"stat\\":\\"p50\\"');
  });

  test('four alarms, each on its metrics with its threshold, fine with missing data, notifying nobody', () => {
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 4);
    const api = alarm(s, 'Api5xxRate');
    expect(api).toMatchObject({
      Threshold: ALARM_DEFAULTS.api5xxPercent,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      TreatMissingData: 'notBreaching',
    });
    expect(alarmMetrics(api)).toEqual(['AWS/ApiGateway 5xx', 'AWS/ApiGateway Count']);
    expect((api.Metrics as Json[]).find((m) => m.Expression)?.Expression).toBe(
      'IF(requests > 0, 100 * errors / requests, 0)',
    );

    const functions = FUNCTION_GROUPS.length + 1; // and the upload sweeper
    const errors = alarm(s, 'LambdaErrors');
    expect(errors).toMatchObject({ Threshold: ALARM_DEFAULTS.lambdaErrors, TreatMissingData: 'notBreaching' });
    expect(alarmMetrics(errors)).toEqual(Array(functions).fill('AWS/Lambda Errors'));
    const throttles = alarm(s, 'LambdaThrottles');
    expect(throttles).toMatchObject({ Threshold: ALARM_DEFAULTS.lambdaThrottles, TreatMissingData: 'notBreaching' });
    expect(alarmMetrics(throttles)).toEqual(Array(functions).fill('AWS/Lambda Throttles'));

    const table = alarm(s, 'DynamoDbThrottles');
    expect(table).toMatchObject({ Threshold: ALARM_DEFAULTS.dynamoDbThrottles, TreatMissingData: 'notBreaching' });
    expect(alarmMetrics(table)).toEqual(['AWS/DynamoDB ReadThrottleEvents', 'AWS/DynamoDB WriteThrottleEvents']);

    for (const props of Object.values(resources(s, 'AWS::CloudWatch::Alarm'))) {
      expect(props.Properties.AlarmActions).toBeUndefined();
    }
  });
});

describe('observability props: tracing, log level, the upload data path (cdk-nag on)', () => {
  let s: Synthesized;
  beforeAll(() => {
    s = synthRegistry({ uploadDataPath: true, tracing: true, logLevel: 'debug' }, { nag: true });
  });
  afterAll(() => s?.dispose());

  test('the uploader reads the mode like the functions that serve writes, and emits the registry metrics', () => {
    const task = Object.values(resources(s, 'AWS::ECS::TaskDefinition'))[0]!;
    const roleId = task.Properties.TaskRoleArn['Fn::GetAtt'][0] as string;
    expect(grantsOfRole(s.stack, s.template, roleId)).toEqual([...UPLOAD_GRANTS].sort());
    expect(dynamodbStatements(s, roleId)).toContainEqual(expect.objectContaining(MODE_STATEMENT));
    const env = task.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[];
    expect(env).toContainEqual({ Name: ENV.modeInTable, Value: 'true' });
    const body = JSON.stringify(Object.values(resources(s, 'AWS::CloudWatch::Dashboard'))[0]?.Properties.DashboardBody);
    expect(body).toContain('\\"functionGroup\\",\\"uploader\\"');
  });

  test('tracing: active on every function, with the X-Ray grant acknowledged for cdk-nag; logLevel reaches them', () => {
    for (const group of FUNCTION_GROUPS) {
      const fn = resources(s, 'AWS::Lambda::Function')[functionId(s.stack, group)]!;
      expect([group, fn.Properties.TracingConfig]).toEqual([group, { Mode: 'Active' }]);
      expect(envOf(s, group)[ENV.logLevel]).toBe('DEBUG');
    }
    expect(violations(s.app)).toEqual([]);
    const xray = acknowledgements(s).filter((a) =>
      a.startsWith('AwsSolutions-IAM5[Resource::*] @ Registry/Functions/'),
    );
    expect(xray).toHaveLength(FUNCTION_GROUPS.length);
  });
});

describe('observability props that change what is created', () => {
  test('alarmTopic: every alarm notifies it of ALARM and of OK', () => {
    const topicArn = 'arn:aws:sns:eu-west-1:111111111111:registry-alarms';
    const topic = Topic.fromTopicArn(new Stack(new App(), 'Elsewhere'), 'Alarms', topicArn);
    const s = synthRegistry({ alarmTopic: topic });
    try {
      const alarms = Object.values(resources(s, 'AWS::CloudWatch::Alarm'));
      expect(alarms).toHaveLength(4);
      for (const props of alarms) {
        expect(props.Properties.AlarmActions).toEqual([topicArn]);
        expect(props.Properties.OKActions).toEqual([topicArn]);
      }
    } finally {
      s.dispose();
    }
  });

  test("the events webhook's dead-letter queue gets a depth alarm", () => {
    const s = synthRegistry({
      events: { webhook: { url: 'https://hooks.example.com/registry', apiKey: SecretValue.unsafePlainText('k') } },
    });
    try {
      s.template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
      const dlq = alarm(s, 'DeadLettersWebhook');
      expect(dlq).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Statistic: 'Maximum',
        Threshold: ALARM_DEFAULTS.deadLetterMessages,
        TreatMissingData: 'notBreaching',
      });
      const queueId = Object.keys(resources(s, 'AWS::SQS::Queue'))[0];
      expect(dlq.Dimensions).toEqual([{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }]);
    } finally {
      s.dispose();
    }
  });

  test('monitoring: false leaves out the dashboard and the alarms, not the maintenance mode', () => {
    const s = synthRegistry({ monitoring: false });
    try {
      s.template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
      s.template.resourceCountIs('AWS::CloudWatch::Alarm', 0);
      expect(envOf(s, 'blobs')[ENV.modeInTable]).toBe('true');
    } finally {
      s.dispose();
    }
  });

  test('a log level that is none is refused at synth', () => {
    expect(() => synthRegistry({ logLevel: 'verbose' })).toThrow(/logLevel must be one of TRACE, DEBUG, INFO/);
  });

  test('dead-letter queues each get a depth alarm and a dashboard graph', () => {
    const stack = new Stack(new App(), 'Monitored');
    const fn = new LambdaFunction(stack, 'Fn', {
      runtime: Runtime.NODEJS_24_X,
      handler: 'i.h',
      code: Code.fromInline('exports.h = async () => {};'),
    });
    const table = new TableV2(stack, 'Table', { partitionKey: { name: 'pk', type: AttributeType.STRING } });
    const dlq = new Queue(stack, 'Dlq');
    new RegistryMonitoring(stack, 'Monitoring', {
      httpApi: new HttpApi(stack, 'Api'),
      functions: { base: fn },
      table,
      deadLetterQueues: { Webhooks: dlq },
      thresholds: { deadLetterMessages: 3 },
    });
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 5);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Statistic: 'Maximum',
      Threshold: 3,
      Dimensions: [
        {
          Name: 'QueueName',
          Value: { 'Fn::GetAtt': [logicalId(dlq), 'QueueName'] },
        },
      ],
    });
    expect(JSON.stringify(template.toJSON())).toContain('Dead-letter queue depth');
  });
});
