/** What the gateway's tests share: a config, a logger whose lines can be read, a migrated database, an app. */
import { Writable } from 'node:stream';
import { decodeJwt, UnsecuredJWT } from 'jose';
import type { TestDatabase } from '@kantoor/testing';
import { openTestPglite } from '@kantoor/testing';
import { createLogger, type Logger } from '@kantoor/logging';
import {
  callerFromClaims,
  claimsForCaller,
  createApp,
  migrateGatewayDatabase,
  readGatewayConfig,
  type Caller,
  type GatewayDeps,
  type TokenVerifier,
} from '../src';
import { defineRoute, type Route } from '../src/openapi/route';

export function testConfig(env: Record<string, string> = {}) {
  return readGatewayConfig({ LOG_LEVEL: 'info', DATA_DIR: '/nonexistent', ...env });
}

export interface CapturedLogger {
  logger: Logger;
  lines: () => Array<Record<string, unknown>>;
}

export function captureLogs(): CapturedLogger {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const logger = createLogger({ service: 'gateway', destination });
  return { logger, lines: () => lines.map((line) => JSON.parse(line)) };
}

export async function openMigratedDatabase(open: () => Promise<TestDatabase> = openTestPglite): Promise<TestDatabase> {
  const database = await open();
  await migrateGatewayDatabase(database.db);
  return database;
}

/** A route anyone may call (rate limits per address). */
export const publicPing = defineRoute({
  method: 'get',
  path: '/v1/test/ping',
  operationId: 'ping',
  summary: 'Anyone may ping',
  tags: ['test'],
  auth: 'public',
  responses: { 200: { description: 'pong' } },
  handler: () => ({ pong: true }),
});

/** Tells who the gateway thinks is calling; the quickest way to see authentication at work. */
export const whoAmI = defineRoute({
  method: 'get',
  path: '/v1/test/whoami',
  operationId: 'whoAmI',
  summary: 'The caller as the gateway sees it',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'firm:read',
  responses: { 200: { description: 'the caller', schema: { type: 'object' } } },
  handler: ({ caller }) => caller,
});

/**
 * A stand-in for a real issuer where authentication is not what a test is about: it trusts unsigned tokens
 * of the issuer `test`. The real verifiers are tested in auth-embedded.test.ts and auth-oidc.test.ts.
 */
export const trustingVerifier: TokenVerifier = {
  issuer: 'test',
  async verify(token) {
    const caller = await callerFromClaims(decodeJwt(token));
    if (!caller) throw new Error('test token without a caller');
    return caller;
  },
};

export const bearer = (caller: Caller) =>
  `Bearer ${new UnsecuredJWT(claimsForCaller(caller)).setIssuer('test').encode()}`;

export function testApp(
  deps: Partial<GatewayDeps> & { db: GatewayDeps['db'] },
  routes: readonly Route[] = [whoAmI],
  env: Record<string, string> = {},
) {
  const captured = captureLogs();
  const app = createApp({
    config: testConfig(env),
    logger: captured.logger,
    routes,
    tokenVerifiers: [trustingVerifier],
    ...deps,
  });
  return { app, logs: captured.lines };
}

export const staff = (overrides: Partial<Caller> = {}): Caller => ({
  kind: 'staff',
  subjectId: 'staff-1',
  firmId: 'firm-1',
  role: 'admin',
  email: 'an@firm.example',
  scopes: [],
  ...overrides,
});

export const problemType = (name: string) => `https://kantoor.dev/problems/${name}`;

/** For suites that never reach the database: any query fails the test loudly. */
export const noDatabase: GatewayDeps['db'] = {
  dialect: 'pglite',
  query: () => Promise.reject(new Error('this test should not reach the database')),
  transaction: () => Promise.reject(new Error('this test should not reach the database')),
  close: async () => undefined,
};
