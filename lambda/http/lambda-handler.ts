import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { Endpoint } from './endpoints';
import { errorResponse } from './error-mapper';
import { recordUpstreamFailure } from './events';
import { Observability, type ObservabilityOptions, type RequestObservation } from './observability';
import { withPathPrefix } from './path-prefix';
import { fromEvent } from './request';
import type { HttpResponse } from './response';
import type { Services } from './services';
import { refuseWritesInMaintenance } from './write-guard';

type ObservedContext = Context & { observation?: RequestObservation };

/** True until the first invocation of this execution environment has begun. */
let coldStart = true;

/**
 * Wraps an endpoint group as a Lambda handler: decodes the event once, refuses writes in
 * maintenance mode, runs the endpoint, and lets one onError middleware map every thrown error to an
 * OCI response. Every request gets an `X-Request-Id` header, one access log line and one EMF metrics
 * line, and every line it logs carries API Gateway's and Lambda's request ids.
 */
export function lambdaHandler<S extends Pick<Services, 'auth' | 'mode' | 'pathPrefix'>>(
  endpoint: Endpoint<S>,
  services: () => S,
  observability: Observability | ObservabilityOptions,
) {
  const observer = observability instanceof Observability ? observability : new Observability(observability);
  // Known once the services are composed (the first request); error answers before that have no path.
  let pathPrefix: string | undefined;
  return middy<APIGatewayProxyEventV2, HttpResponse, Error, ObservedContext>()
    .use(observe(observer, () => pathPrefix))
    .handler(async (event, context) => {
      const observation = context.observation as RequestObservation;
      const req = { ...fromEvent(event), record: observation.record };
      return observation.run(async () => {
        const registry = services();
        pathPrefix = registry.pathPrefix;
        await refuseWritesInMaintenance(req, registry);
        return endpoint(req, registry);
      });
    });
}

/** Starts a request's observation before the handler; finishes it on the way out, errors included. */
function observe(
  observer: Observability,
  pathPrefix: () => string | undefined,
): MiddlewareObj<APIGatewayProxyEventV2, HttpResponse, Error, ObservedContext> {
  const access = (event: APIGatewayProxyEventV2) => ({
    method: event.requestContext?.http?.method?.toUpperCase() ?? 'GET',
    path: event.rawPath,
    requestBytes: requestBytes(event),
  });
  return {
    before: (request) => {
      const { event, context } = request;
      context.observation = observer.begin({
        requestId: event.requestContext?.requestId ?? context.awsRequestId,
        lambdaRequestId: context.awsRequestId,
        ...(coldStart ? { extra: { coldStart: true } } : {}),
      });
      coldStart = false;
    },
    after: (request) => {
      const response = request.response ? withPathPrefix(request.response, pathPrefix()) : undefined;
      request.response = request.context.observation?.finish(response, access(request.event)) as HttpResponse;
    },
    onError: (request) => {
      const observation = request.context.observation;
      recordUpstreamFailure(observation?.record, request.error);
      const requestId = observation?.ids.requestId ?? request.context.awsRequestId;
      const response = withPathPrefix(
        errorResponse(request.error, requestId, (message, fields) =>
          observer.logger.error(message, { ...observation?.keys, ...fields }),
        ),
        pathPrefix(),
      );
      request.response = observation ? observation.finish(response, access(request.event)) : response;
    },
  };
}

function requestBytes(event: APIGatewayProxyEventV2): number {
  const body = event.body ?? '';
  return event.isBase64Encoded ? Buffer.byteLength(body, 'base64') : Buffer.byteLength(body);
}
