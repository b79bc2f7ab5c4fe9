import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RegistryStack } from '../lib/registry-stack';

const app = new App();
new RegistryStack(app, 'ServerlessRegistry', {
  description: 'Serverless OCI container registry (API Gateway HTTP API, Lambda, S3, DynamoDB)',
  // `cdk deploy -c uploadDataPath=true` adds the upload data path (CloudFront, Fargate); it costs
  // money when idle, see RegistryStackProps.uploadDataPath.
  uploadDataPath: ['true', true].includes(app.node.tryGetContext('uploadDataPath') as string | boolean),
});
// cdk-nag 3 runs as a policy validation plugin: an unacknowledged finding fails the synth.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
