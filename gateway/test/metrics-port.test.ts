/**
 * The built gateway process in cluster mode, as its pod runs it: Prometheus scrapes METRICS_PORT, and the
 * public port (behind the Ingress) does not serve /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { createScratchPostgres, describeWithPostgres, eventually, type ScratchPostgres } from '@kantoor/testing';

const MAIN = path.join(__dirname, '..', 'dist', 'main.js');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

describeWithPostgres('gateway process in cluster mode', () => {
  let database: ScratchPostgres;
  let gateway: ChildProcess;
  let output = '';
  let publicPort: number;
  let metricsPort: number;

  beforeAll(async () => {
    database = await createScratchPostgres('kantoor_gateway_metrics');
    [publicPort, metricsPort] = [await freePort(), await freePort()];
    gateway = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        KANTOOR_MODE: 'cluster',
        DATABASE_URL: database.url,
        CALLER_SIGNING_KEY: 'a-caller-signing-key-of-32-bytes+',
        // neither is asked by the requests below: no token is verified, no service is called
        OIDC_ISSUER: 'https://login.firm.invalid/realms/kantoor',
        DIRECTORY_GRPC_ADDRESS: '127.0.0.1:9',
        HOST: '127.0.0.1',
        PORT: String(publicPort),
        METRICS_PORT: String(metricsPort),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    gateway.stdout!.on('data', (chunk) => (output += chunk));
    gateway.stderr!.on('data', (chunk) => (output += chunk));
    const healthy = await eventually(
      () =>
        fetch(`http://127.0.0.1:${publicPort}/healthz`).then(
          (response) => response.status === 200,
          () => false,
        ),
      (ok) => ok || gateway.exitCode !== null,
      20_000,
    );
    if (!healthy) throw new Error(`the gateway did not start (exit code ${gateway.exitCode}): ${output}`);
  }, 30_000);

  afterAll(async () => {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((done) => gateway.once('exit', done));
      gateway.kill('SIGTERM');
      await exited;
    }
    await database?.drop();
  });

  it('answers /metrics on the public port with 404, as any path it does not serve', async () => {
    const response = await fetch(`http://127.0.0.1:${publicPort}/metrics`);
    expect(response.status).toBe(404);
    expect(await response.text()).not.toContain('http_server_request_duration');
  });

  it("serves Prometheus metrics on METRICS_PORT, the public port's requests included", async () => {
    await fetch(`http://127.0.0.1:${publicPort}/v1/no-such-thing`);
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^http_server_request_duration_count\{[^}]*http_route="unmatched"/m);
  });
});
