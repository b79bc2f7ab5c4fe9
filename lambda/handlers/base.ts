import { baseEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import { servicesFromEnv } from './compose';

/** Lambda entry point of the base endpoint group. */
export const handler = lambdaHandler(baseEndpoint, servicesFromEnv, { group: 'base' });
