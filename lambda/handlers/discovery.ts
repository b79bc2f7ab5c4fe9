import { discoveryEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import { servicesFromEnv } from './compose';

/** Lambda entry point of the discovery endpoint group. */
export const handler = lambdaHandler(discoveryEndpoint, servicesFromEnv, { group: 'discovery' });
