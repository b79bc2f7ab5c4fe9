import { loadConfig } from '../../../lambda/config/config';
import { ENV } from '../../../lambda/config/env';
import { DEFAULT_EVENT_SOURCE, eventBusProblem, eventSourceProblem } from '../../../lambda/config/events';

const BASE = { [ENV.bucket]: 'b', [ENV.table]: 't' };
const BUS_ARN = 'arn:aws:events:eu-west-1:111111111111:event-bus/registry';

describe('event configuration (REGISTRY_EVENT_*)', () => {
  test('off unless a bus is named', () => {
    expect(loadConfig(BASE).events).toBeUndefined();
  });

  test('a bus by name or ARN; source and pulls default', () => {
    expect(loadConfig({ ...BASE, [ENV.eventBus]: 'default' }).events).toEqual({
      bus: 'default',
      source: DEFAULT_EVENT_SOURCE,
      pulls: false,
    });
    expect(
      loadConfig({ ...BASE, [ENV.eventBus]: BUS_ARN, [ENV.eventSource]: 'team.registry', [ENV.eventPulls]: 'true' })
        .events,
    ).toEqual({ bus: BUS_ARN, source: 'team.registry', pulls: true });
  });

  test.each([
    [{ [ENV.eventBus]: 'arn:aws:sqs:eu-west-1:111111111111:queue' }, 'is not an event bus ARN'],
    [{ [ENV.eventBus]: 'has space' }, 'is not an event bus name or ARN'],
    [{ [ENV.eventBus]: 'default', [ENV.eventSource]: 'aws.ecr' }, 'reserved for AWS services'],
    [{ [ENV.eventBus]: 'default', [ENV.eventPulls]: 'yes' }, 'must be true or false'],
    [{ [ENV.eventPulls]: 'true' }, `has no effect without ${ENV.eventBus}`],
    [{ [ENV.eventSource]: 'mine' }, `has no effect without ${ENV.eventBus}`],
  ])('refuses %p', (env, message) => {
    expect(() => loadConfig({ ...BASE, ...env })).toThrow(message);
  });

  test('source and bus rules', () => {
    expect(eventSourceProblem(DEFAULT_EVENT_SOURCE)).toBeUndefined();
    expect(eventSourceProblem('x'.repeat(257))).toMatch(/1-256/);
    expect(eventBusProblem('aws.partner/vendor/bus')).toBeUndefined();
    expect(eventBusProblem('arn:aws-cn:events:cn-north-1:111111111111:event-bus/default')).toBeUndefined();
  });
});
