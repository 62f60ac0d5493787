// Tells once per run whether the PostgreSQL suites will run, so that a skipped suite is never silent.
const { Client } = require('pg');

module.exports = async function globalSetup() {
  const url = process.env.KANTOOR_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 1500 });
  try {
    await client.connect();
    await client.end();
    process.env.KANTOOR_TEST_POSTGRES = url;
    console.log(`\nPostgreSQL suites: running against ${url.replace(/\/\/[^@]*@/, '//')}`);
  } catch (error) {
    process.env.KANTOOR_TEST_POSTGRES = '';
    if (process.env.CI && process.env.KANTOOR_REQUIRE_POSTGRES !== '0') {
      throw new Error(`PostgreSQL is required in CI but not reachable at ${url}: ${error.message}`);
    }
    console.log(`\nPostgreSQL suites: SKIPPED (no server at ${url}: ${error.message})`);
  }
};
