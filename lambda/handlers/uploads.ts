import { uploadsEndpoint } from '../http/endpoints';
import { lambdaHandler } from '../http/lambda-handler';
import { servicesFromEnv } from './compose';

/** Lambda entry point of the uploads endpoint group. */
export const handler = lambdaHandler(uploadsEndpoint, servicesFromEnv);
