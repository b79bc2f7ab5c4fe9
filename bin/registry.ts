import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RegistryStack } from '../lib/registry-stack';

const app = new App();
new RegistryStack(app, 'ServerlessRegistry', {
  description: 'Serverless OCI container registry (API Gateway HTTP API, Lambda, S3, DynamoDB)',
});
// cdk-nag 3 runs as a policy validation plugin: an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
