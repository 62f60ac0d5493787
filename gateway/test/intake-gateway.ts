/**
 * The gateway over a running document-intake harness (real intake and directory services), with response
 * validation on, for the tests of the intake's routes.
 */
import type { TestDatabase } from '@kantoor/testing';
import { startIntake, type IntakeHarness } from '../../services/document-intake/test/intake-harness';
import { authorizeWithPolicy, directoryAccessFacts, routeTable, type GatewayDeps } from '../src';
import { openMigratedDatabase, testApp } from './helpers';

export interface IntakeGateway {
  h: IntakeHarness;
  app: ReturnType<typeof testApp>['app'];
  /** another gateway app over the same services, with these settings added (and these deps replaced) */
  appWith(env: Record<string, string>, deps?: Partial<GatewayDeps>): ReturnType<typeof testApp>['app'];
  stop(): Promise<void>;
}

/** `deps` adds to (or replaces) what the gateway gets, e.g. an API key verifier. */
export async function startIntakeGateway(deps: Partial<GatewayDeps> = {}): Promise<IntakeGateway> {
  const h = await startIntake();
  let gatewayDb: TestDatabase | undefined;
  try {
    gatewayDb = await openMigratedDatabase();
    const all = {
      db: gatewayDb.db,
      services: { directory: h.fx.directory, documentIntake: h.client },
      authorize: authorizeWithPolicy(directoryAccessFacts(h.fx.directory)),
      ...deps,
    };
    const appWith = (env: Record<string, string>, replaced: Partial<GatewayDeps> = {}) =>
      testApp({ ...all, ...replaced }, routeTable, { VALIDATE_RESPONSES: 'true', ...env }).app;
    const opened = gatewayDb;
    return {
      h,
      app: appWith({}),
      appWith,
      async stop() {
        await opened.dispose();
        await h.stop();
      },
    };
  } catch (error) {
    await gatewayDb?.dispose();
    await h.stop();
    throw error;
  }
}
