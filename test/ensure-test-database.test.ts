/** tools/ensure-test-database.js, which .ci/run runs so that the PostgreSQL suites find their database. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { describeWithPostgres, postgresUrl } from '@kantoor/testing';

const SCRIPT = path.join(__dirname, '..', 'tools', 'ensure-test-database.js');

function run(url: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT],
      { env: { PATH: process.env.PATH, KANTOOR_TEST_POSTGRES_URL: url }, timeout: 20_000 },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

async function withServer<T>(use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: postgresUrl() });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

const databaseExists = (name: string) =>
  withServer(async (client) => (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount);

describeWithPostgres('ensure-test-database', () => {
  const name = `kantoor_ensure_${randomBytes(4).toString('hex')}`;
  const url = () => {
    const target = new URL(postgresUrl());
    target.pathname = `/${name}`;
    return target.toString();
  };
  afterAll(() => withServer((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));

  it('creates the database when the server answers and it is missing, then leaves it alone', async () => {
    expect(await databaseExists(name)).toBe(0);
    const first = await run(url());
    expect(first).toEqual({ code: 0, output: expect.stringContaining(`test database: ${name} created at`) });
    expect(await databaseExists(name)).toBe(1);
    const second = await run(url());
    expect(second).toEqual({ code: 0, output: expect.stringContaining(`test database: ${name} exists at`) });
  });

  it('fails, saying why, when the server answers with a refusal', async () => {
    const refused = new URL(postgresUrl());
    refused.username = `kantoor_nobody_${randomBytes(3).toString('hex')}`;
    refused.pathname = `/${name}_never`;
    const outcome = await run(refused.toString());
    expect(outcome.code).toBe(1);
    expect(outcome.output).toContain('test database: could not create it at');
    expect(await databaseExists(`${name}_never`)).toBe(0);
  });
});

describe('ensure-test-database without a server', () => {
  it('only reports it, so that the jest setup decides (skip, or fail in CI)', async () => {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as { port: number };
    await new Promise((done) => server.close(done));
    const outcome = await run(`postgres://postgres@127.0.0.1:${port}/test`);
    expect(outcome.code).toBe(0);
    expect(outcome.output).toContain(`test database: no server answers at postgres://127.0.0.1:${port}/test`);
  });
});
