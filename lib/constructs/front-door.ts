import { Duration, Validations, type RemovalPolicy } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  PriceClass,
  SecurityPolicyProtocol,
  SSLMethod,
  ViewerProtocolPolicy,
  type BehaviorOptions,
  type IOrigin,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin, VpcOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import type { IApplicationLoadBalancer } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { FILL_PATH_PATTERN, UPLOADER_PATH_PATTERN } from '../../lambda/config/routes';

/** A custom domain served by CloudFront. */
export interface FrontDoorDomainProps {
  /** The registry's host name, e.g. `registry.example.com`. */
  readonly domainName: string;
  /** ARN of an ACM certificate for `domainName` in us-east-1, where CloudFront takes certificates from. */
  readonly certificateArn: string;
}

export interface RegistryFrontDoorProps {
  /** The HTTP API's own host (`<api>.execute-api.<region>.amazonaws.com`): every request but uploads. */
  readonly apiHost: string;
  /** The uploader's internal load balancer: requests matching `UPLOADER_PATH_PATTERN`. */
  readonly uploaderLoadBalancer: IApplicationLoadBalancer;
  /**
   * Serve the registry on this domain instead of the distribution's `*.cloudfront.net` one.
   * @default - the distribution's domain
   */
  readonly customDomain?: FrontDoorDomainProps;
  /**
   * Edge locations the distribution uses.
   * @default PriceClass.PRICE_CLASS_100
   */
  readonly priceClass?: PriceClass;
  /** Receives the server access logs of the distribution's own log bucket. */
  readonly accessLogBucket: IBucket;
  /** What happens to the distribution's log bucket when it leaves the stack. */
  readonly removalPolicy: RemovalPolicy;
  /**
   * Send a pull-through cache's fills (`FILL_PATH_PATTERN`) to the uploader too, where large blobs are
   * streamed from the upstream without a time limit.
   * @default false
   */
  readonly pullThroughFills?: boolean;
}

/**
 * How long CloudFront waits for the uploader's answer after forwarding the last byte of a request
 * body. The uploader answers only after the last part is written and the multipart upload completed,
 * so a large layer needs more than the 30 s default. 120 s is the most the default quota allows
 * (CloudFront quotas, "Response timeout per origin": 1-120 seconds; aws-cdk-lib documents the same
 * bound for `readTimeout`); more needs a quota increase, or deployment fails.
 */
export const UPLOADER_ORIGIN_READ_TIMEOUT = Duration.seconds(120);

/** CloudFront standard logs are for incident review, like the other access logs. */
const LOG_EXPIRATION = Duration.days(90);

/**
 * The registry's front door when the upload data path is on: one CloudFront distribution whose
 * default behavior goes to the HTTP API and whose `UPLOADER_PATH_PATTERN` behavior (and, with a
 * pull-through cache, `FILL_PATH_PATTERN`) goes to the uploader through a VPC origin. Nothing is cached: every response depends on the request's
 * credentials and on state that changes. HEAD requests and the 307 redirects of blob GETs pass
 * through unchanged (CloudFront never follows an origin's redirect), so blob bytes still go from S3
 * to the client directly.
 */
export class RegistryFrontDoor extends Construct {
  readonly distribution: Distribution;
  readonly logBucket: Bucket;
  /** The host clients use: the custom domain or the distribution's domain. */
  readonly host: string;
  /** `https://<host>`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: RegistryFrontDoorProps) {
    super(scope, id);

    // Standard logs are written with object ACLs, which an owner-enforced bucket (the registry's
    // access-log bucket) refuses; so the distribution gets a bucket of its own that accepts them.
    this.logBucket = new Bucket(this, 'Logs', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_PREFERRED,
      serverAccessLogsBucket: props.accessLogBucket,
      serverAccessLogsPrefix: 'cloudfront-logs/',
      lifecycleRules: [{ id: 'ExpireCloudFrontLogs', expiration: LOG_EXPIRATION }],
      removalPolicy: props.removalPolicy,
    });

    const passThrough = (origin: IOrigin): BehaviorOptions => ({
      origin,
      allowedMethods: AllowedMethods.ALLOW_ALL,
      // HTTPS or nothing: a redirect would make clients resend, or drop, an upload's body.
      viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      cachePolicy: CachePolicy.CACHING_DISABLED,
      // Every viewer header but Host (the origins answer to their own names), every query string
      // (`?digest=`, `?mount=&from=`, `?n=&last=`). With caching disabled this forwards Authorization,
      // which an origin request policy cannot do for cached behaviors.
      originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      // Never re-encode: clients check manifest bytes against their digest and read sizes from
      // Content-Length (and with caching disabled CloudFront would not compress anyway).
      compress: false,
    });

    const apiOrigin = new HttpOrigin(props.apiHost, {
      protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
      originSslProtocols: [OriginSslPolicy.TLS_V1_2],
    });
    const uploaderOrigin = VpcOrigin.withApplicationLoadBalancer(props.uploaderLoadBalancer, {
      // The load balancer listens on HTTP inside the VPC (see RegistryUploader).
      protocolPolicy: OriginProtocolPolicy.HTTP_ONLY,
      httpPort: 80,
      readTimeout: UPLOADER_ORIGIN_READ_TIMEOUT,
    });

    const domain = props.customDomain;
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'OCI registry: HTTP API, with uploads streamed to the uploader',
      defaultBehavior: passThrough(apiOrigin),
      additionalBehaviors: {
        [UPLOADER_PATH_PATTERN]: passThrough(uploaderOrigin),
        // The same origin (one VPC origin) and settings: a fill is a long GET whose bytes stream as they come.
        ...(props.pullThroughFills ? { [FILL_PATH_PATTERN]: passThrough(uploaderOrigin) } : {}),
      },
      httpVersion: HttpVersion.HTTP2_AND_3,
      priceClass: props.priceClass ?? PriceClass.PRICE_CLASS_100,
      logBucket: this.logBucket,
      logFilePrefix: 'distribution/',
      ...(domain
        ? {
            domainNames: [domain.domainName],
            certificate: Certificate.fromCertificateArn(this, 'Certificate', domain.certificateArn),
            minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
            sslSupportMethod: SSLMethod.SNI,
          }
        : {}),
    });
    this.host = domain ? domain.domainName : this.distribution.distributionDomainName;
    this.url = `https://${this.host}`;

    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'A container registry serves its users wherever they are; nothing in it is licensed or restricted by country.',
    });
    Validations.of(this.distribution).acknowledge({
      id: 'AwsSolutions-CFR2',
      reason:
        'Registry traffic is API traffic from container clients, and layer uploads are request bodies of up to many GB: AWS WAF on CloudFront inspects only the first 16 KB of a body (64 KB at most) and must pass or block larger bodies wholesale, so it adds cost without inspecting uploads. Authentication is done by the registry itself (RegistryStackProps.auth), with sign-in failures counted per user; a web ACL can still be attached if wanted.',
    });
    if (!domain) {
      Validations.of(this.distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          'Without a custom domain the distribution serves the default *.cloudfront.net certificate, whose security policy CloudFront fixes (TLSv1) and no setting can raise; with a custom domain the stack sets TLSv1.2_2021. Container clients negotiate TLS 1.2 or newer anyway.',
      });
    }
  }
}
