import middy from '@middy/core';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import type { Endpoint } from './endpoints';
import { errorResponse } from './error-mapper';
import { log } from './log';
import { fromEvent, type RegistryRequest } from './request';
import type { HttpResponse } from './response';
import type { Services } from './services';

/**
 * Wraps an endpoint group as a Lambda handler: decodes the event once, runs the endpoint, and lets one
 * onError middleware map every thrown error to an OCI response.
 */
export function lambdaHandler(endpoint: Endpoint, services: () => Services) {
  return middy<APIGatewayProxyEventV2, HttpResponse, Error, Context & { registryRequest?: RegistryRequest }>()
    .use({
      onError: (request) => {
        request.response = errorResponse(
          request.error,
          request.event.requestContext?.requestId ?? request.context.awsRequestId,
          log,
        );
      },
    })
    .handler(async (event) => endpoint(fromEvent(event), services()));
}
