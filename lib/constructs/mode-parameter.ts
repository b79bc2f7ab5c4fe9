import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { ParameterTier, StringParameter } from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { ENV } from '../../lambda/config/env';
import { MODE_PATTERN, REGISTRY_MODES } from '../../lambda/config/observability';
import type { StorageGrantee } from './storage';

export interface RegistryModeParameterProps {
  /**
   * The parameter's name.
   * @default - a name CloudFormation generates (the stack outputs it as `ModeParameter`)
   */
  readonly parameterName?: string;
}

/**
 * The registry's mode, switchable without a deployment: an SSM String parameter holding
 * `read-write` (as created) or `read-only` (maintenance: writes answer 503, reads work). Its allowed
 * pattern makes SSM refuse any other value. Functions that serve writes, and the one that answers
 * `/health` (which reports it), read it through a cache of 30 s per execution environment;
 * `npx serverless-oci-registry maintenance on --parameter <name>` switches it.
 *
 * A deployment that changes this resource writes `read-write` back; one that leaves it unchanged
 * (the usual case) keeps whatever mode is set.
 */
export class RegistryModeParameter extends Construct {
  readonly parameter: StringParameter;

  constructor(scope: Construct, id: string, props: RegistryModeParameterProps = {}) {
    super(scope, id);
    this.parameter = new StringParameter(this, 'Parameter', {
      description: 'Serverless OCI registry mode: read-write, or read-only for maintenance (writes answer 503)',
      stringValue: REGISTRY_MODES[0],
      allowedPattern: MODE_PATTERN,
      // Standard tier: no charge for the parameter or for reads at standard throughput.
      tier: ParameterTier.STANDARD,
      ...(props.parameterName ? { parameterName: props.parameterName } : {}),
    });
  }

  /** Lets registry code follow the mode: `ssm:GetParameter` on this parameter alone, and its name. */
  bind(grantee: StorageGrantee): void {
    grantee.addEnvironment(ENV.modeParameter, this.parameter.parameterName);
    grantee.addToRolePolicy(
      new PolicyStatement({ actions: ['ssm:GetParameter'], resources: [this.parameter.parameterArn] }),
    );
  }
}
