/** One jest configuration for the whole repository; TypeScript is compiled by swc, packages resolve to src. */
const swc = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
];
module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    '^@kantoor/proto/(.*)$': '<rootDir>/proto/gen/$1',
    '^@kantoor/proto$': '<rootDir>/proto/gen/index.ts',
    '^@kantoor/(directory|document-intake|archive|invoicing|backup|accounting-connector|notification)$':
      '<rootDir>/services/$1/src/index.ts',
    '^@kantoor/telemetry/register$': '<rootDir>/packages/telemetry/src/register.ts',
    '^@kantoor/embedded$': '<rootDir>/deploy/embedded/src/index.ts',
    '^@kantoor/gateway$': '<rootDir>/gateway/src/index.ts',
    '^@kantoor/([a-z-]+)$': '<rootDir>/packages/$1/src/index.ts',
  },
  testMatch: ['**/?(*.)test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/'],
  globalSetup: '<rootDir>/test/jest-global-setup.js',
  // Test files run in a worker process even on a 2-core machine (where jest would otherwise run them all inside its
  // own process), renewed once it holds more than this after a file: a crash of node fails one file, not the run,
  // and tools/run-jest.js runs a file whose worker was killed by a signal once more.
  workerIdleMemoryLimit: '1GB',
  testTimeout: 30000,
};
