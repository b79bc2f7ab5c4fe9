/**
 * Test tiers, each a jest project (`npm run test:<tier>`; `npm test` runs them all):
 * - unit: core, http, config and tools over test doubles; no server, seconds;
 * - infra: CDK template assertions and cdk-nag;
 * - integration: contract suites and the registry over real DynamoDB Local and S3 servers;
 * - clients: the synthesized stack driven by real clients (docker, podman, skopeo, containerd,
 *   crane, oras, regctl) and the smoke test;
 * - conformance: the OCI conformance suite against the synthesized stack.
 */
const CLIENT_TESTS = [
  'auth-clients',
  'clients',
  'docker-mirror',
  'large-layers',
  'path-prefix',
  'pull-through',
  'pull-through-auth',
  'push-helper',
  'smoke',
  'stack-iam',
];

const common = {
  testEnvironment: 'node',
  testMatch: ['**/*.test.ts'],
  // @middy/core ships only ES modules; let ts-jest turn it into CommonJS like our own code.
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { diagnostics: false, tsconfig: { allowJs: true, isolatedModules: true } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(@middy|jose)/)'],
};
/** The servers are started once per run, whichever tiers need them (the setup is idempotent). */
const servers = {
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
const clientFiles = `/test/integration/(${CLIENT_TESTS.join('|')})\\.test\\.ts$`;

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
  projects: [
    { ...common, displayName: 'unit', roots: ['<rootDir>/test/unit'] },
    { ...common, displayName: 'infra', roots: ['<rootDir>/test/infra'] },
    {
      ...common,
      ...servers,
      displayName: 'integration',
      roots: ['<rootDir>/test/contract', '<rootDir>/test/integration'],
      testPathIgnorePatterns: [clientFiles, '/test/integration/conformance\\.test\\.ts$'],
    },
    {
      ...common,
      ...servers,
      displayName: 'clients',
      roots: ['<rootDir>/test/integration'],
      testMatch: CLIENT_TESTS.map((name) => `**/${name}.test.ts`),
    },
    {
      ...common,
      ...servers,
      displayName: 'conformance',
      roots: ['<rootDir>/test/integration'],
      testMatch: ['**/conformance.test.ts'],
    },
  ],
};
