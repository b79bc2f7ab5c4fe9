import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';
import type { Construct } from 'constructs';
import { DEFAULT_MAX_NAME_DEPTH } from '../lambda/config/routes';
import { RegistryApi, type RegistryDomainProps } from './constructs/api';
import { RegistryFunctions } from './constructs/functions';
import { RegistryStorage } from './constructs/storage';

export interface RegistryStackProps extends StackProps {
  /**
   * Deepest repository name served (`a/b/c` has depth 3); each level adds four routes.
   * @default DEFAULT_MAX_NAME_DEPTH (8)
   */
  readonly maxNameDepth?: number;
  /**
   * Serve the registry at the root of this domain; point a CNAME or alias at the `DomainTarget` output.
   * @default - the API's `execute-api` host
   */
  readonly customDomain?: RegistryDomainProps;
  /**
   * Seconds a presigned blob URL stays valid.
   * @default 900
   */
  readonly redirectTtlSeconds?: number;
  /**
   * Seconds an idle upload session lives.
   * @default 86400
   */
  readonly uploadTtlSeconds?: number;
  /**
   * Days before staged upload chunks expire and incomplete multipart uploads are aborted.
   * @default 2
   */
  readonly uploadStagingExpirationDays?: number;
  /**
   * What happens to the bucket and the table when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly dataRemovalPolicy?: RemovalPolicy;
  /**
   * Stage-wide API throttling.
   * @default - burst 500, rate 1000 requests per second
   */
  readonly throttle?: ThrottleSettings;
}

/**
 * The registry: storage, one function per endpoint group with exactly the grants its endpoints use,
 * and the HTTP API routing to them. Composition only; the constructs hold the decisions.
 */
export class RegistryStack extends Stack {
  readonly storage: RegistryStorage;
  readonly functions: RegistryFunctions;
  readonly api: RegistryApi;

  constructor(scope: Construct, id: string, props: RegistryStackProps = {}) {
    super(scope, id, props);
    const maxNameDepth = props.maxNameDepth ?? DEFAULT_MAX_NAME_DEPTH;

    this.storage = new RegistryStorage(this, 'Storage', {
      uploadStagingExpirationDays: props.uploadStagingExpirationDays,
      uploadTtlSeconds: props.uploadTtlSeconds,
      redirectTtlSeconds: props.redirectTtlSeconds,
      removalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.functions = new RegistryFunctions(this, 'Functions', { maxNameDepth });
    const { base, blobs, manifests, discovery } = this.functions.byGroup;

    // Grants follow the calls each group's endpoints make (docs/storage.md, "Access patterns").
    // base answers /v2/ and unknown paths from its config alone.
    this.storage.bind(base);
    // Blob HEAD/GET/DELETE, mount and uploads: point reads and (conditional) writes of links,
    // blob records and sessions.
    this.storage.grantBlobRead(blobs);
    this.storage.grantUploadWrite(blobs);
    this.storage.grantMetadata(blobs, ['GetItem', 'PutItem', 'DeleteItem']);
    // Manifest GET/PUT/DELETE: BatchGetItem checks references, TransactWriteItems puts and deletes,
    // Query finds the tags of a deleted revision.
    this.storage.grantManifestObjects(manifests);
    this.storage.grantMetadata(manifests, ['GetItem', 'PutItem', 'DeleteItem', 'BatchGetItem', 'Query']);
    // Tags list, catalog and referrers are queries only.
    this.storage.grantMetadata(discovery, ['Query']);

    this.api = new RegistryApi(this, 'Api', {
      functions: this.functions.byGroup,
      maxNameDepth,
      throttle: props.throttle,
      customDomain: props.customDomain,
    });

    new CfnOutput(this, 'RegistryUrl', { value: this.api.url, description: 'The registry API root (/v2/ below it)' });
    new CfnOutput(this, 'RegistryHost', {
      value: this.api.host,
      description: 'Host for docker login and image references',
    });
    if (this.api.domainName) {
      new CfnOutput(this, 'DomainTarget', {
        value: this.api.domainName.regionalDomainName,
        description: 'Point the custom domain (CNAME or alias) here',
      });
    }
  }
}
