#!/usr/bin/env node
/**
 * Creates the database the PostgreSQL suites use (KANTOOR_TEST_POSTGRES_URL, default
 * postgres://postgres@127.0.0.1:5432/test) when its server answers but the database is missing. Idempotent:
 * an existing database is left alone. A server that does not answer is only reported (exit 0): the jest
 * global setup then skips those suites, or fails in CI, saying so. Exits 1 when the server answers but
 * refuses the login or the creation. Run by .ci/run after `pnpm install` (it needs the pg package).
 */
const { Client } = require('pg');

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** Errors that mean nothing listens there (as opposed to a server that answered with a refusal). */
const NO_SERVER = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EAI_AGAIN']);
const noServer = (error) => NO_SERVER.has(error.code) || /timeout/i.test(error.message);
const quoteIdentifier = (name) => `"${name.replace(/"/g, '""')}"`;

/** The same server, through a database that always exists, to look for and create the one named in `url`. */
async function connectToServer(url) {
  let lastError;
  for (const maintenance of ['postgres', 'template1']) {
    const admin = new URL(url);
    admin.pathname = `/${maintenance}`;
    const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      return client;
    } catch (error) {
      lastError = error;
      await client.end().catch(() => undefined);
      // 3D000: that maintenance database does not exist; anything else is the server or the login
      if (error.code !== '3D000') break;
    }
  }
  throw lastError;
}

/** 'created', 'exists' or 'no server' (with the reason). */
async function ensureTestDatabase(url = process.env.KANTOOR_TEST_POSTGRES_URL || DEFAULT_URL) {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!name) throw new Error(`${url} names no database`);
  let client;
  try {
    client = await connectToServer(url);
  } catch (error) {
    if (noServer(error)) return { outcome: 'no server', reason: error.message };
    throw error;
  }
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount > 0) return { outcome: 'exists', name };
    try {
      await client.query(`CREATE DATABASE ${quoteIdentifier(name)}`);
    } catch (error) {
      // 42P04: created meanwhile by someone else, which is just as good
      if (error.code !== '42P04') throw error;
      return { outcome: 'exists', name };
    }
    return { outcome: 'created', name };
  } finally {
    await client.end();
  }
}

module.exports = { ensureTestDatabase };

if (require.main === module) {
  const url = process.env.KANTOOR_TEST_POSTGRES_URL || DEFAULT_URL;
  const shown = url.replace(/\/\/[^@/]*@/, '//');
  ensureTestDatabase(url).then(
    (result) => {
      if (result.outcome === 'no server')
        console.log(`test database: no server answers at ${shown} (${result.reason})`);
      else
        console.log(`test database: ${result.name} ${result.outcome === 'created' ? 'created' : 'exists'} at ${shown}`);
    },
    (error) => {
      console.error(`test database: could not create it at ${shown}: ${error.message || error.code}`);
      process.exit(1);
    },
  );
}
