import { manifestsEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import { servicesFromEnv } from './compose';

/** Lambda entry point of the manifests endpoint group. */
export const handler = lambdaHandler(manifestsEndpoint, servicesFromEnv, { group: 'manifests' });
