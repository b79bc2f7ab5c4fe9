import { lambdaHandler } from '../http/lambda-handler';
import { tokenEndpoint } from '../http/token-endpoint';
import { servicesFromEnv } from './compose';

/** Lambda entry point of the token service. */
export const handler = lambdaHandler(tokenEndpoint, servicesFromEnv, { group: 'token' });
