import { Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  ApiMapping,
  DomainName,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
  type ThrottleSettings,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { routeTable, type FunctionGroup } from '../../lambda/config/routes';

/** A custom domain serving the registry at its root. */
export interface RegistryDomainProps {
  /** The registry's host name, e.g. `registry.example.com`. */
  readonly domainName: string;
  /**
   * ARN of an ACM certificate for `domainName`: in the stack's region (a regional API endpoint), or
   * in us-east-1 when the stack's `uploadDataPath` puts CloudFront in front, which takes certificates
   * only from there.
   */
  readonly certificateArn: string;
  /**
   * Turn off the `execute-api` host, so that clients can reach the registry only by the domain.
   * Not with `uploadDataPath`: CloudFront reaches the API by that host.
   * @default false
   */
  readonly disableExecuteApiEndpoint?: boolean;
}

export interface RegistryApiProps {
  /** The function of each endpoint group. */
  readonly functions: Readonly<Record<FunctionGroup, IFunction>>;
  /** Deepest repository name routed; see `routeTable`. */
  readonly maxNameDepth: number;
  /**
   * Stage-wide throttling.
   * @default - burst 500, rate 1000 requests per second
   */
  readonly throttle?: ThrottleSettings;
  /**
   * Serve the registry on this domain.
   * @default - the `execute-api` host only
   */
  readonly customDomain?: RegistryDomainProps;
  /**
   * How long access logs are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: RetentionDays;
}

/** Everything the access log needs to tell one request from another and why it failed. */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  ip: '$context.identity.sourceIp',
  method: '$context.httpMethod',
  path: '$context.path',
  routeKey: '$context.routeKey',
  status: '$context.status',
  latency: '$context.responseLatency',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  responseLength: '$context.responseLength',
  userAgent: '$context.identity.userAgent',
};

/**
 * The HTTP API: one route per entry of `routeTable(maxNameDepth)`, each to the Lambda integration
 * of its endpoint group, served from the `$default` stage so that `/v2/` sits at the root of the
 * host (image references cannot carry a path prefix).
 */
export class RegistryApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly domainName?: DomainName;
  /** The host clients use (`docker login <host>`). */
  readonly host: string;
  /** The API's own `execute-api` host, whatever domain clients use. */
  readonly executeApiHost: string;
  /** `https://<host>`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: RegistryApiProps) {
    super(scope, id);
    const routes = routeTable(props.maxNameDepth);
    const integrations = new Map<FunctionGroup, HttpLambdaIntegration>();
    const integration = (group: FunctionGroup): HttpLambdaIntegration => {
      let found = integrations.get(group);
      if (!found) {
        found = new HttpLambdaIntegration(`${group}-integration`, props.functions[group], {
          payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
          // One invoke permission per function instead of one per route keeps the function policy
          // under its 20 KB limit at any depth. The `$default` route's source ARN
          // (`<api>/<stage>/$default`) does not match that API-wide pattern, so the group serving it
          // keeps per-route permissions (it has only three routes: $default, /v2, /health).
          scopePermissionToRoute: routes.some((r) => r.group === group && r.path === '$default'),
        });
        integrations.set(group, found);
      }
      return found;
    };

    const fallback = routes.find((r) => r.path === '$default');
    if (!fallback) throw new Error('the route table has no $default route');
    this.httpApi = new HttpApi(this, 'HttpApi', {
      description: 'OCI Distribution registry',
      defaultIntegration: integration(fallback.group),
      // The built-in default stage takes neither access logs nor throttling; ours below is `$default` too.
      createDefaultStage: false,
      disableExecuteApiEndpoint: props.customDomain?.disableExecuteApiEndpoint ?? false,
    });
    for (const route of routes) {
      if (route === fallback) continue;
      this.httpApi.addRoutes({ path: route.path, methods: [HttpMethod.ANY], integration: integration(route.group) });
    }

    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? RetentionDays.ONE_MONTH,
    });
    this.stage = new HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: { burstLimit: 500, rateLimit: 1000, ...props.throttle },
      accessLogSettings: {
        destination: new LogGroupLogDestination(accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    const stack = Stack.of(this);
    this.executeApiHost = `${this.httpApi.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`;
    if (props.customDomain) {
      const { domainName, certificateArn } = props.customDomain;
      this.domainName = new DomainName(this, 'DomainName', {
        domainName,
        certificate: Certificate.fromCertificateArn(this, 'Certificate', certificateArn),
      });
      // Root mapping, no key: references are `<domain>/<name>:<tag>`.
      new ApiMapping(this, 'RootMapping', { api: this.httpApi, domainName: this.domainName, stage: this.stage });
      this.host = domainName;
    } else {
      this.host = this.executeApiHost;
    }
    this.url = `https://${this.host}`;

    Validations.of(this.httpApi).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        'OCI clients authenticate with the Docker token protocol or Basic credentials (a 401 with a WWW-Authenticate challenge, then Bearer tokens or Basic on every request), which the registry functions implement (RegistryStackProps.auth): an API Gateway authorizer cannot issue that challenge, and /token and anonymous pulls must stay reachable without credentials. Only with auth mode none, which must be chosen explicitly (token is the default), is the registry open, on purpose, as the README says.',
    });
  }
}
