import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
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
  constructor(scope: Construct, id: string, props: RegistryStackProps = {}) {
    super(scope, id, props);
    // The registry's constructs are the stack's children, so the stack carries its feature flags.
    pinFeatureFlags(this);
    const registry = new RegistryInStack(this, 'Registry', props);
    this.registry = registry;

    new CfnOutput(this, 'MetadataTable', {
      value: registry.storage.table.tableName,
      description:
        'Metadata table, for the admin CLI (--metadata-table): maintenance on|off|status (the registry mode is an item of it), gc, du, verify, policy, uploads purge',
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

  // The registry's parts, as `registry` has them (documented there).
  get storage(): OciRegistry['storage'] {
    return this.registry.storage;
  }
  get functions(): OciRegistry['functions'] {
    return this.registry.functions;
  }
  get api(): OciRegistry['api'] {
    return this.registry.api;
  }
  get uploader(): OciRegistry['uploader'] {
    return this.registry.uploader;
  }
  get frontDoor(): OciRegistry['frontDoor'] {
    return this.registry.frontDoor;
  }
  get accessControl(): OciRegistry['accessControl'] {
    return this.registry.accessControl;
  }
  get events(): OciRegistry['events'] {
    return this.registry.events;
  }
  get maintenance(): OciRegistry['maintenance'] {
    return this.registry.maintenance;
  }
  get garbageCollection(): OciRegistry['garbageCollection'] {
    return this.registry.garbageCollection;
  }
  get monitoring(): OciRegistry['monitoring'] {
    return this.registry.monitoring;
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
