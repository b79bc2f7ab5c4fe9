import { blobsEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import { servicesFromEnv } from './compose';

/** Lambda entry point of the blobs endpoint group. */
export const handler = lambdaHandler(blobsEndpoint, servicesFromEnv, { group: 'blobs' });
