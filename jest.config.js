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
  testTimeout: 30000,
};
