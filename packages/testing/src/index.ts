import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { PgDatabase, PgliteDatabase, type Database } from '@kantoor/database';

/** The PostgreSQL URL the jest global setup found reachable, or '' when the PostgreSQL suites skip. */
export const postgresUrl = (): string => process.env.KANTOOR_TEST_POSTGRES ?? '';

/**
 * Tells the person running the tests why something was skipped, on the test process's standard error. Not through
 * `console`: jest keeps the console output of a test file whose tests were all skipped to itself when the file runs
 * in a worker process, which is how the tests run (jest.config.js).
 */
export function saySkipped(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** `describe` that runs only when PostgreSQL is reachable, and says so when it skips. */
export function describeWithPostgres(name: string, body: () => void): void {
  if (postgresUrl()) {
    describe(`${name} [PostgreSQL]`, body);
  } else {
    describe.skip(`${name} [PostgreSQL: skipped, no server]`, body);
  }
}

export interface ScratchPostgres {
  url: string;
  drop(): Promise<void>;
}

/** A new, empty database on the test server, so that suites never see each other's rows. */
export async function createScratchPostgres(prefix = 'kantoor_test'): Promise<ScratchPostgres> {
  const admin = new Client({ connectionString: postgresUrl() });
  await admin.connect();
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(postgresUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new Client({ connectionString: postgresUrl() });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface TestDatabase {
  db: Database;
  dispose(): Promise<void>;
}

export async function openTestPglite(): Promise<TestDatabase> {
  const db = await PgliteDatabase.open();
  return { db, dispose: () => db.close() };
}

export async function openTestPostgres(poolSize = 10): Promise<TestDatabase> {
  const scratch = await createScratchPostgres();
  const db = new PgDatabase({ connectionString: scratch.url, max: poolSize });
  return {
    db,
    async dispose() {
      await db.close();
      await scratch.drop();
    },
  };
}

/** The adapters a database contract runs against here: PGlite always, PostgreSQL when reachable. */
export const databaseAdapters: Array<{ name: string; open: () => Promise<TestDatabase>; needsServer: boolean }> = [
  { name: 'PGlite', open: openTestPglite, needsServer: false },
  { name: 'PostgreSQL', open: openTestPostgres, needsServer: true },
];

/** Runs a suite once per database adapter that can run here. */
export function describeEachDatabase(name: string, body: (open: () => Promise<TestDatabase>) => void): void {
  for (const adapter of databaseAdapters) {
    if (adapter.needsServer) describeWithPostgres(`${name} on ${adapter.name}`, () => body(adapter.open));
    else describe(`${name} on ${adapter.name}`, () => body(adapter.open));
  }
}

export async function temporaryFolder(prefix = 'kantoor-'): Promise<{ path: string; remove(): Promise<void> }> {
  const folder = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { path: folder, remove: () => rm(folder, { recursive: true, force: true }) };
}

const scratchFolders: string[] = [];
// jest loads this module once per test file, while it collects the file's tests: the folders go with the file
if (typeof afterAll === 'function')
  afterAll(() => {
    for (const folder of scratchFolders.splice(0)) rmSync(folder, { recursive: true, force: true });
  });

/**
 * A folder for files a test hands to other programs (a ZIP checked with unzip), made at once and removed after
 * the test file's last test.
 */
export function scratchFolder(prefix = 'kantoor-'): string {
  const folder = mkdtempSync(path.join(os.tmpdir(), prefix));
  scratchFolders.push(folder);
  return folder;
}

/** Re-runs `probe` until `accept` is true of its result (or the time is up), for effects that arrive asynchronously. */
export async function eventually<T>(
  probe: () => Promise<T>,
  accept: (value: T) => boolean,
  timeoutMs = 5000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (accept(value)) return value;
    if (Date.now() > until) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
export { pdfText, type PdfText, type PdfTextItem } from './pdf-text';
export { hasAttributes, recordTelemetry, type RecordedTelemetry } from './recorded-telemetry';

/**
 * A service implementation that has only `methods`: any other RPC fails with `refuse(its name)`. For tests that
 * serve one generated service (via `implement`) but need only a few of its RPCs.
 */
export function onlyTheseMethods<T extends object>(
  methods: T,
  refuse: (name: string) => Error = (name) => new Error(`${name} is not used in this test`),
): any {
  return new Proxy(methods, {
    get: (target, name) =>
      (target as Record<string | symbol, unknown>)[name] ??
      (async () => {
        throw refuse(String(name));
      }),
  });
}
