import { Duration } from 'aws-cdk-lib';
import { Schedule } from 'aws-cdk-lib/aws-events';
import { ENV } from '../../lambda/config/env';
import {
  allowStatements,
  disposingSynth,
  functionId,
  grantsOfRole,
  type Synthesized,
  synthRegistry,
  violations,
  logicalId,
} from './stacks';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Exactly the calls GarbageCollector makes: the scan, conditional deletes, the policy item, collected objects. */
const COLLECTOR_GRANTS = [
  'dynamodb:DeleteItem table',
  'dynamodb:GetItem table',
  'dynamodb:PutItem table',
  'dynamodb:Scan table',
  'dynamodb:UpdateItem table',
  'logs:CreateLogStream logs',
  'logs:PutLogEvents logs',
  's3:DeleteObject bucket:blobs/*',
  's3:DeleteObject bucket:manifests/*',
  's3:GetObject bucket:manifests/*',
  `s3:ListBucket {"Fn::GetAtt":["BUCKET","Arn"]}`,
].sort();

describe('RegistryGarbageCollection: the scheduled collector', () => {
  const synth = disposingSynth();
  const collectorId = (s: Synthesized) => logicalId(s.stack.garbageCollection.collector);
  const roleId = (s: Synthesized) => logicalId(s.stack.garbageCollection.collector.role!);

  test('runs daily from its own schedule, with exactly its grants, listing only the prefixes it collects', () => {
    const s = synth({}, { nag: true });
    expect(violations(s.app)).toEqual([]);
    const rules = (Object.values(s.template.findResources('AWS::Events::Rule')) as Json[]).filter(
      (r) => r.Properties.Targets[0].Arn['Fn::GetAtt'][0] === collectorId(s),
    );
    expect(rules.map((r) => r.Properties.ScheduleExpression)).toEqual(['rate(1 day)']);
    const bucket = logicalId(s.stack.storage.bucket);
    expect(grantsOfRole(s.stack, s.template, roleId(s))).toEqual(
      COLLECTOR_GRANTS.map((g) => g.replace('BUCKET', bucket)).sort(),
    );
    const list = allowStatements(s.template).find((st) => st.Action === 's3:ListBucket') as
      { Condition?: unknown } | undefined;
    expect(list?.Condition).toEqual({ StringLike: { 's3:prefix': ['blobs/*', 'manifests/*'] } });
    const fn = s.template.findResources('AWS::Lambda::Function')[collectorId(s)] as Json;
    expect(fn.Properties.Timeout).toBe(900);
    expect(fn.Properties.Environment.Variables).toMatchObject({
      [ENV.gcGrace]: '86400',
      [ENV.untaggedRetention]: '7',
      [ENV.bucket]: expect.anything(),
      [ENV.table]: expect.anything(),
    });
    expect(fn.Properties.Environment.Variables[ENV.notPulledFor]).toBeUndefined();
  });

  test('lifecycle props reach the collector and the manifests function (immutable tags are checked on push)', () => {
    const s = synth({
      lifecycle: {
        gcGrace: Duration.hours(6),
        untaggedRetention: 'never',
        immutableTags: [{ repository: 'prod/*', tag: 'v*' }],
        tagRetention: [{ repository: 'ci/*', tag: 'build-*', keepLast: 20 }],
        notPulledFor: Duration.days(90),
        gcSchedule: Schedule.rate(Duration.hours(12)),
      },
    });
    const expected = {
      [ENV.gcGrace]: '21600',
      [ENV.untaggedRetention]: 'never',
      [ENV.immutableTags]: 'prod/*:v*',
      [ENV.tagRetention]: 'ci/*:build-*=20',
      [ENV.notPulledFor]: '90',
    };
    const functions = s.template.findResources('AWS::Lambda::Function') as Record<string, Json>;
    expect(functions[collectorId(s)]!.Properties.Environment.Variables).toMatchObject(expected);
    expect(functions[functionId(s.stack, 'manifests')]!.Properties.Environment.Variables).toMatchObject(expected);
    const rule = (Object.values(s.template.findResources('AWS::Events::Rule')) as Json[]).find(
      (r) => r.Properties.Targets[0].Arn['Fn::GetAtt'][0] === collectorId(s),
    );
    expect(rule?.Properties.ScheduleExpression).toBe('rate(12 hours)');
  });

  test('a grace period under an hour, or a not-pulled age under a day, is refused at synth', () => {
    expect(() => synthRegistry({ lifecycle: { gcGrace: Duration.minutes(10) } })).toThrow(/at least one hour/);
    expect(() => synthRegistry({ lifecycle: { notPulledFor: Duration.days(0) } })).toThrow(/at least one day/);
  });
});

describe('the manifests function and last pulls', () => {
  const synth = disposingSynth();

  test('may update repository items only: the day a pull records and the references a push marks', () => {
    const s = synth();
    const fn = s.template.findResources('AWS::Lambda::Function')[functionId(s.stack, 'manifests')] as Json;
    const roleId = fn.Properties.Role['Fn::GetAtt'][0] as string;
    const updates = (Object.values(s.template.findResources('AWS::IAM::Policy')) as Json[])
      .filter((p) => JSON.stringify(p.Properties.Roles) === JSON.stringify([{ Ref: roleId }]))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Json[])
      .filter((st) => [st.Action].flat().includes('dynamodb:UpdateItem'));
    expect(updates).toEqual([
      {
        Effect: 'Allow',
        Action: 'dynamodb:UpdateItem',
        Resource: { 'Fn::GetAtt': [logicalId(s.stack.storage.table), 'Arn'] },
        Condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['repo#*'] } },
      },
    ]);
  });
});
