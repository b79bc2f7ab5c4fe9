import { Arn, ArnFormat, RemovalPolicy, Token, type Duration } from 'aws-cdk-lib';
import type { ThrottleSettings } from 'aws-cdk-lib/aws-apigatewayv2';
import type { PriceClass } from 'aws-cdk-lib/aws-cloudfront';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { DEFAULT_MAX_NAME_DEPTH, PATH_PREFIX } from '../lambda/config/routes';
import { ENV } from '../lambda/config/env';
import { RegistryAccessControl, validateAuth, type RegistryAuthProps } from './constructs/access-control';
import { RegistryApi, type RegistryDomainProps } from './constructs/api';
import { RegistryFrontDoor } from './constructs/front-door';
import { RegistryFunctions } from './constructs/functions';
import { RegistryMaintenance } from './constructs/maintenance';
import { RegistryGarbageCollection, type RegistryLifecycleProps } from './constructs/garbage-collection';
import { RegistryMonitoring } from './constructs/monitoring';
import { RegistryPullThroughCache, type PullThroughCacheRule } from './constructs/pull-through';
import { RegistryStorage } from './constructs/storage';
import { RegistryUploader } from './constructs/uploader';
import { RegistryEvents, type RegistryEventsProps } from './constructs/events';
import { pinFeatureFlags } from './feature-flags';

export interface OciRegistryProps {
  /**
   * Deepest repository name served (`a/b/c` has depth 3); each level adds four routes.
   * @default DEFAULT_MAX_NAME_DEPTH (8)
   */
  readonly maxNameDepth?: number;
  /**
   * The path clients reach the registry under, behind a reverse proxy or a custom domain's API
   * mapping that strips it before requests reach the API (`/registry` for
   * `https://example.com/registry/v2/`): `Location` and `Link` headers and the token realm carry it.
   * Image references cannot carry a path, so this serves proxies and clients that take a base URL.
   * @default - the registry is at the root
   */
  readonly pathPrefix?: string;
  /**
   * Serve the registry at the root of this domain; point a CNAME or alias at `domainTarget` (the
   * `DomainTarget` output of `RegistryStack`).
   * With `uploadDataPath` the domain is CloudFront's, so the certificate must be in us-east-1, the
   * API gets no custom domain of its own, and `disableExecuteApiEndpoint` is refused.
   * @default - the API's `execute-api` host, or the distribution's domain with `uploadDataPath`
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
   * How often the upload sweeper removes expired upload sessions with their staged chunks and
   * multipart uploads.
   * @default Duration.hours(1)
   */
  readonly uploadSweepInterval?: Duration;
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
  /**
   * Serve uploads of any size from any client: a CloudFront distribution becomes the registry's
   * front door, sending the upload endpoints (`UPLOADER_PATH_PATTERN`) to a streaming uploader on
   * ECS Fargate behind an internal load balancer, and everything else to the HTTP API. Without it,
   * request bodies are limited to what one Lambda invoke carries (about 4.5 MiB).
   *
   * Off by default because it costs money when idle, roughly per month in us-east-1: the Fargate
   * task (1 vCPU, 2 GiB, arm64) about $29, the Application Load Balancer about $16.50, the task's
   * public IPv4 address $3.65; about $49 in all, plus per-request and per-GB charges (CloudFront
   * requests, load balancer LCUs, more tasks under load). CloudFront itself and its VPC origin have
   * no fixed charge.
   * @default false
   */
  readonly uploadDataPath?: boolean;
  /**
   * Edge locations of the CloudFront distribution (only with `uploadDataPath`).
   * @default PriceClass.PRICE_CLASS_100
   */
  readonly priceClass?: PriceClass;
  /**
   * Access control: `basic` (Basic credentials on every request) or `token` (Docker token auth with
   * KMS-signed JWTs), with an accounts table managed by the admin CLI. See
   * `docs/access-control-infra.md`.
   * @default - mode 'token', with no users: nothing is served until the admin CLI adds one
   */
  readonly auth?: RegistryAuthProps;
  /**
   * Registry events on EventBridge (`docs/events.md`): manifests pushed and deleted, blobs pushed
   * and deleted, tags changed, and optionally manifests pulled, published by the functions (and the
   * uploader) that do these things, to the default bus or `events.bus`, with an optional webhook.
   * $1 per million events.
   * @default - no events
   */
  readonly events?: RegistryEventsProps;
  /**
   * Garbage collection and the lifecycle policy (docs/garbage-collection.md): the grace period,
   * how long untagged manifests stay, immutable tags, tag retention, and the collector's schedule.
   * The admin CLI's `policy set` adds rules without a deployment.
   * @default - daily collection, 1 day grace, untagged manifests kept 7 days, no tag rules
   */
  readonly lifecycle?: RegistryLifecycleProps;
  /**
   * A pull-through cache (docs/pull-through-cache.md): each rule serves an upstream registry under
   * a prefix of our name space (`hub/library/nginx` from Docker Hub's `library/nginx`), fetched on
   * first pull and served from the bucket afterwards. The blobs and manifests functions (and the
   * uploader, which fills blobs over 64 MiB) get the rules and may read the rules' credentials
   * secrets, nothing more. Without `uploadDataPath`, blobs over 64 MiB cannot be filled (a warning
   * at synth says so).
   * @default - no pull-through cache
   */
  readonly pullThroughCache?: PullThroughCacheRule[];
  /**
   * Where the alarms (API 5xx rate, Lambda errors and throttles, DynamoDB throttles, dead letters)
   * send their alarm and OK notifications.
   * @default - alarms change state and show on the dashboard; nobody is notified
   */
  readonly alarmTopic?: ITopic;
  /**
   * The CloudWatch dashboard and alarms (lib/constructs/monitoring.ts). About $1.40 a month for the
   * alarms; the dashboard is free within an account's first three.
   * @default true
   */
  readonly monitoring?: boolean;
  /**
   * X-Ray active tracing on the functions (not the uploader).
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Level of the functions' JSON logs; INFO has one access line per request. (The uploader logs
   * at INFO.)
   * @default 'INFO'
   */
  readonly logLevel?: string;
}

/**
 * The registry: storage, one function per endpoint group with exactly the grants its endpoints use,
 * and the HTTP API routing to them, in any stack. Composition only; the constructs hold the
 * decisions. Their cdk-nag acknowledgements sit on their own resources, and the feature flags they
 * were tested under are pinned on this scope (feature-flags.ts), so both hold in any app.
 *
 * What belongs to the stack stays the caller's: outputs (`url`, `host` and `domainTarget` carry what
 * `RegistryStack` outputs), and the KMS aliases of token mode are named after the stack
 * (`alias/<stack name>/token-signing-<generation>`), so a stack holds one registry.
 */
export class OciRegistry extends Construct {
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
  /** The pull-through cache's rules and grants, with `pullThroughCache`. */
  readonly pullThroughCache?: RegistryPullThroughCache;
  /** Scheduled housekeeping: the upload sweeper. */
  readonly maintenance: RegistryMaintenance;
  /** Scheduled online garbage collection. */
  readonly garbageCollection: RegistryGarbageCollection;
  /** The dashboard and alarms, unless `monitoring` is false. */
  readonly monitoring?: RegistryMonitoring;
  /** The registry API root (`/v2/` below it): the distribution's with `uploadDataPath`, else the API's. */
  readonly url: string;
  /** The host for `docker login` and image references. */
  readonly host: string;
  /** Where the custom domain's CNAME or alias points, with `customDomain`. */
  readonly domainTarget?: string;

  constructor(scope: Construct, id: string, props: OciRegistryProps = {}) {
    super(scope, id);
    pinFeatureFlags(this);
    const parts = this.partsScope();
    const maxNameDepth = props.maxNameDepth ?? DEFAULT_MAX_NAME_DEPTH;
    if (props.pathPrefix !== undefined && !PATH_PREFIX.test(props.pathPrefix)) {
      throw new Error(
        `pathPrefix must be a path such as /registry (segments of letters, digits, '.', '_', '~', '-', no trailing /), got "${props.pathPrefix}"`,
      );
    }
    if (props.uploadDataPath) checkFrontDoorDomain(props.customDomain);
    const auth = validateAuth(props.auth);

    this.storage = new RegistryStorage(parts, 'Storage', {
      uploadStagingExpirationDays: props.uploadStagingExpirationDays,
      uploadTtlSeconds: props.uploadTtlSeconds,
      redirectTtlSeconds: props.redirectTtlSeconds,
      removalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.functions = new RegistryFunctions(parts, 'Functions', {
      maxNameDepth,
      pathPrefix: props.pathPrefix,
      tracing: props.tracing,
      logLevel: props.logLevel,
    });
    const { base, blobs, manifests, discovery, token } = this.functions.byGroup;
    // GET /health reads one item of the table's health partition, nothing else.
    this.storage.grantHealthCheck(base);
    // Maintenance mode, an item of the metadata table: the functions that serve writes read it (reads
    // never consult it), and the base function to report it on /health.
    for (const fn of [blobs, manifests, base]) this.storage.grantModeRead(fn);

    // Grants follow the calls each group's endpoints make (docs/storage.md, "Access patterns").
    // base answers /v2/ and unknown paths from its config alone.
    this.storage.bind(base);
    // Blob HEAD/GET/DELETE, mount and uploads: point reads and (conditional) writes of links,
    // blob records and sessions. Blob reads and deletes need no item action beyond the uploads'.
    this.storage.grantBlobRead(blobs);
    this.storage.grantUploads(blobs);
    // Manifest GET/PUT/DELETE: BatchGetItem checks references, TransactWriteItems puts and deletes,
    // Query finds the tags of a deleted revision.
    this.storage.grantManifestObjects(manifests);
    this.storage.grantMetadata(manifests, ['GetItem', 'PutItem', 'DeleteItem', 'BatchGetItem', 'Query']);
    // UpdateItem on repository items only: a push marks what it references as referenced now, a pull
    // records its day (garbage collection).
    this.storage.grantRepositoryUpdates(manifests);
    // Tags list, catalog and referrers are queries only.
    this.storage.grantMetadata(discovery, ['Query']);
    // The token service reads no registry data; its configuration still names the bucket and table.
    this.storage.bind(token);
    // Registry events come from the groups that push, pull manifests and delete; nothing else may publish.
    if (props.events) {
      this.events = new RegistryEvents(parts, 'Events', props.events);
      this.events.grantPublish(blobs);
      this.events.grantPublish(manifests);
    }
    // The pull-through cache: the functions that serve blob and manifest reads fetch what is not here
    // yet; nothing else gets the rules or the upstream credentials.
    if (props.pullThroughCache?.length) {
      this.pullThroughCache = new RegistryPullThroughCache(parts, 'PullThroughCache', props.pullThroughCache);
      this.pullThroughCache.bind(blobs);
      this.pullThroughCache.bind(manifests);
      // GET / lists the mirrors (docs/pull-through-cache.md); the base function reads no credentials.
      this.pullThroughCache.describeTo(base);
      if (!props.uploadDataPath) this.pullThroughCache.warnWithoutFillPath();
    }
    // What nothing references any more goes, online (docs/garbage-collection.md); manifest pushes
    // check the immutable-tag rules.
    this.garbageCollection = new RegistryGarbageCollection(parts, 'GarbageCollection', {
      storage: this.storage,
      ...props.lifecycle,
    });
    RegistryGarbageCollection.bindPolicy(manifests, props.lifecycle ?? {});
    // Abandoned upload sessions: a scheduled sweeper frees what they hold (docs/storage.md, "Upload expiry").
    this.maintenance = new RegistryMaintenance(parts, 'Maintenance', {
      storage: this.storage,
      sweepInterval: props.uploadSweepInterval,
    });

    if (auth.mode !== 'none') {
      this.accessControl = new RegistryAccessControl(parts, 'AccessControl', {
        auth: props.auth ?? {},
        removalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
      });
      // Every function that serves /v2/ checks its callers; only the token service issues tokens.
      for (const fn of [base, blobs, manifests, discovery]) this.accessControl.bindRegistry(fn);
      this.accessControl.bindTokenService(token);
    }

    this.api = new RegistryApi(parts, 'Api', {
      functions: this.functions.byGroup,
      maxNameDepth,
      throttle: props.throttle,
      // With the data path the domain belongs to CloudFront, which reaches the API by its own host.
      customDomain: props.uploadDataPath ? undefined : props.customDomain,
    });

    let url = this.api.url;
    let host = this.api.host;
    let domainTarget = this.api.domainName?.regionalDomainName;
    if (props.uploadDataPath) {
      this.uploader = new RegistryUploader(parts, 'Uploader', {
        maxNameDepth,
        pathPrefix: props.pathPrefix,
        logBucket: this.storage.accessLogBucket,
      });
      // Exactly the blobs function's upload grants, and the environment that goes with them.
      this.storage.grantUploads(this.uploader.grantee);
      this.storage.grantModeRead(this.uploader.grantee);
      this.accessControl?.bindRegistry(this.uploader.grantee);
      this.events?.grantPublish(this.uploader.grantee);
      // The uploader fills the blobs a function cannot (over 64 MiB), from the upstreams' own ports.
      if (this.pullThroughCache) {
        this.pullThroughCache.bind(this.uploader.grantee);
        // A fill that finds the blob stored (another fill finished first) answers 307 to a presigned
        // GET, as the blobs function does: the URL acts with the task role, which may then read blobs.
        this.storage.grantBlobRead(this.uploader.grantee);
        for (const port of this.pullThroughCache.upstreamPorts) this.uploader.allowUpstreamPort(port);
        // The blobs function redirects those first pulls to the uploader's fill path.
        blobs.addEnvironment(ENV.pullThroughFill, 'true');
      }
      this.frontDoor = new RegistryFrontDoor(parts, 'FrontDoor', {
        apiHost: this.api.executeApiHost,
        uploaderLoadBalancer: this.uploader.loadBalancer,
        customDomain: props.customDomain,
        priceClass: props.priceClass,
        accessLogBucket: this.storage.accessLogBucket,
        removalPolicy: props.dataRemovalPolicy ?? RemovalPolicy.RETAIN,
        pullThroughFills: this.pullThroughCache !== undefined,
      });
      url = this.frontDoor.url;
      host = this.frontDoor.host;
      // Behind CloudFront the origins see their own Host (the API's execute-api host, the load
      // balancer's internal name), so the token realm is configured. The functions and the task then
      // depend on the distribution, which depends only on the API and the load balancer: no cycle.
      if (this.accessControl) {
        for (const fn of Object.values(this.functions.byGroup)) this.accessControl.setPublicUrl(fn, url);
        this.accessControl.setPublicUrl(this.uploader.grantee, url);
      }
      domainTarget = props.customDomain ? this.frontDoor.distribution.distributionDomainName : undefined;
    }
    this.url = url;
    this.host = host;
    this.domainTarget = domainTarget;

    if (props.monitoring !== false) {
      this.monitoring = new RegistryMonitoring(parts, 'Monitoring', {
        httpApi: this.api.httpApi,
        functions: { ...this.functions.byGroup, sweeper: this.maintenance.uploadSweeper },
        table: this.storage.table,
        metricSources: [...Object.keys(this.functions.byGroup), ...(this.uploader ? ['uploader'] : [])],
        alarmTopic: props.alarmTopic,
        ...(this.events?.deadLetterQueue ? { deadLetterQueues: { Webhook: this.events.deadLetterQueue } } : {}),
      });
    }
  }

  /**
   * The scope the registry's constructs are created in: this construct (`<id>/Storage`,
   * `<id>/Functions`, ...). `RegistryStack` overrides it to keep them directly in the stack, where its
   * deployments have them.
   */
  protected partsScope(): Construct {
    return this;
  }
}

/** CloudFront takes certificates from us-east-1 only, and reaches the API by its `execute-api` host. */
function checkFrontDoorDomain(domain: RegistryDomainProps | undefined): void {
  if (!domain) return;
  if (domain.disableExecuteApiEndpoint) {
    throw new Error(
      'customDomain.disableExecuteApiEndpoint cannot be used with uploadDataPath: CloudFront reaches the API by its execute-api host',
    );
  }
  if (Token.isUnresolved(domain.certificateArn)) return;
  const region = Arn.split(domain.certificateArn, ArnFormat.SLASH_RESOURCE_NAME).region;
  if (region !== 'us-east-1') {
    throw new Error(
      `customDomain.certificateArn must be in us-east-1 with uploadDataPath (CloudFront takes certificates only from there), got region "${region}"`,
    );
  }
}
