import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { RegistryAccessControl } from './constructs/access-control';
import type { RegistryApi } from './constructs/api';
import type { RegistryEvents } from './constructs/events';
import type { RegistryFrontDoor } from './constructs/front-door';
import type { RegistryFunctions } from './constructs/functions';
import type { RegistryGarbageCollection } from './constructs/garbage-collection';
import type { RegistryMaintenance } from './constructs/maintenance';
import type { RegistryModeParameter } from './constructs/mode-parameter';
import type { RegistryMonitoring } from './constructs/monitoring';
import type { RegistryStorage } from './constructs/storage';
import type { RegistryUploader } from './constructs/uploader';
import { pinFeatureFlags } from './feature-flags';
import { OciRegistry, type OciRegistryProps } from './oci-registry';

/** The registry's props (`OciRegistryProps`) and the stack's own. */
export interface RegistryStackProps extends StackProps, OciRegistryProps {}

/**
 * A stack of one registry (`OciRegistry`), with outputs for the admin CLI and for DNS. The
 * registry's constructs sit directly in the stack (`Storage`, `Functions`, ...), as they did before
 * `OciRegistry` existed, so deployed stacks keep their logical IDs and construct paths.
 */
export class RegistryStack extends Stack {
  /** The registry; its constructs are the stack's children, not this construct's. */
  readonly registry: OciRegistry;
  readonly storage: RegistryStorage;
  readonly functions: RegistryFunctions;
  readonly api: RegistryApi;
  /** The streaming uploader, with `uploadDataPath`. */
  readonly uploader?: RegistryUploader;
  /** The CloudFront distribution in front of the API and the uploader, with `uploadDataPath`. */
  readonly frontDoor?: RegistryFrontDoor;
  /** The accounts table and, in token mode, the signing keys; with `auth.mode` basic or token. */
  readonly accessControl?: RegistryAccessControl;
  /** Where registry events go, with `events`. */
  readonly events?: RegistryEvents;
  /** Scheduled housekeeping: the upload sweeper. */
  readonly maintenance: RegistryMaintenance;
  /** Scheduled online garbage collection. */
  readonly garbageCollection: RegistryGarbageCollection;
  /** The SSM parameter holding the registry's mode (maintenance mode: read-only). */
  readonly mode: RegistryModeParameter;
  /** The dashboard and alarms, unless `monitoring` is false. */
  readonly monitoring?: RegistryMonitoring;

  constructor(scope: Construct, id: string, props: RegistryStackProps = {}) {
    super(scope, id, props);
    // The registry's constructs are the stack's children, so the stack carries its feature flags.
    pinFeatureFlags(this);
    const registry = new RegistryInStack(this, 'Registry', props);
    this.registry = registry;
    this.storage = registry.storage;
    this.functions = registry.functions;
    this.api = registry.api;
    this.uploader = registry.uploader;
    this.frontDoor = registry.frontDoor;
    this.accessControl = registry.accessControl;
    this.events = registry.events;
    this.maintenance = registry.maintenance;
    this.garbageCollection = registry.garbageCollection;
    this.mode = registry.mode;
    this.monitoring = registry.monitoring;

    new CfnOutput(this, 'ModeParameter', {
      value: registry.mode.parameter.parameterName,
      description:
        'SSM parameter with the registry mode (read-write | read-only): npx serverless-oci-registry maintenance on|off|status --parameter <it>',
    });
    new CfnOutput(this, 'RegistryUrl', { value: registry.url, description: 'The registry API root (/v2/ below it)' });
    new CfnOutput(this, 'RegistryHost', {
      value: registry.host,
      description: 'Host for docker login and image references',
    });
    if (registry.accessControl) {
      new CfnOutput(this, 'AccountsTable', {
        value: registry.accessControl.accountsTable.tableName,
        description: 'Accounts table (users, robot tokens) for the admin CLI',
      });
      if (registry.accessControl.mode === 'token') {
        new CfnOutput(this, 'TokenRealm', {
          value: `${registry.url}/token`,
          description: 'The token service (token realm)',
        });
      }
    }
    if (registry.events?.deadLetterQueue) {
      new CfnOutput(this, 'WebhookDeadLetterQueue', {
        value: registry.events.deadLetterQueue.queueUrl,
        description: 'Registry events the webhook could not take, kept 14 days',
      });
    }
    if (registry.domainTarget) {
      new CfnOutput(this, 'DomainTarget', {
        value: registry.domainTarget,
        description: 'Point the custom domain (CNAME or alias) here',
      });
    }
  }
}

/**
 * The registry with its constructs directly in the stack, where they were before `OciRegistry`
 * existed. In a child scope its id would enter every logical ID, so CloudFormation would replace the
 * bucket, the tables and everything else of a deployed stack; even the hidden id `Default`, which
 * logical IDs skip, would still change every construct path (in the template's metadata, the
 * cdk-nag reports and the acknowledgements).
 */
class RegistryInStack extends OciRegistry {
  protected override partsScope(): Construct {
    return Stack.of(this);
  }
}
