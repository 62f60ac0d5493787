/**
 * The scripts the `helm test` pods run (charts/platform/files), run here the way the pods run them
 * (`node -e <script>` in the gateway package, which ships @grpc/grpc-js) against real local servers.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { chartDir, repoRoot } from './chart';

const gatewayDir = join(repoRoot, 'gateway');

/** The part of @grpc/grpc-js used here; it is loaded from the gateway package, which depends on it. */
interface HealthServer {
  addService(definition: object, implementation: object): void;
  bindAsync(address: string, credentials: unknown, bound: (error: Error | null, port: number) => void): void;
  forceShutdown(): void;
}
const grpc: { Server: new () => HealthServer; ServerCredentials: { createInsecure(): unknown } } = createRequire(
  join(gatewayDir, 'package.json'),
)('@grpc/grpc-js');

interface CheckResult {
  exitCode: number;
  output: string;
}
function runCheck(script: string, env: Record<string, string>): Promise<CheckResult> {
  const source = readFileSync(join(chartDir, 'files', script), 'utf8');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['-e', source],
      { cwd: gatewayDir, env: { PATH: process.env.PATH, CHECK_TIMEOUT_MS: '2000', ...env }, timeout: 15000 },
      (error, stdout, stderr) => resolve({ exitCode: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

/** A port nothing listens on: bound once by the OS, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

describe('helm test: gateway readiness check', () => {
  let server: Server;
  let ready = true;
  let base: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      response.statusCode = request.url === '/readyz' && ready ? 200 : 503;
      response.end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((done) => server.close(done)));

  it('passes when /readyz answers 200', async () => {
    ready = true;
    const result = await runCheck('check-gateway-ready.js', { GATEWAY_READY_URL: `${base}/readyz` });
    expect(result).toEqual({ exitCode: 0, output: `${base}/readyz answered 200\n` });
  });

  it('fails when the gateway reports it is not ready', async () => {
    ready = false;
    const result = await runCheck('check-gateway-ready.js', { GATEWAY_READY_URL: `${base}/readyz` });
    expect(result).toEqual({ exitCode: 1, output: `${base}/readyz answered 503\n` });
  });

  it('fails when nothing answers', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/readyz`;
    const result = await runCheck('check-gateway-ready.js', { GATEWAY_READY_URL: url });
    expect(result.exitCode).toBe(1);
    expect(result.output).toContain(`${url} did not answer`);
  });
});

describe('helm test: gRPC health check', () => {
  const SERVING = 1;
  const NOT_SERVING = 2;
  const servers: HealthServer[] = [];

  /** A server whose grpc.health.v1 Check answers with the given status, as the services' health service does. */
  async function healthServer(status: number): Promise<string> {
    const server = new grpc.Server();
    const bytes = (buffer: Buffer) => buffer;
    server.addService(
      {
        Check: {
          path: '/grpc.health.v1.Health/Check',
          requestStream: false,
          responseStream: false,
          requestSerialize: bytes,
          requestDeserialize: bytes,
          responseSerialize: bytes,
          responseDeserialize: bytes,
        },
      },
      {
        // HealthCheckResponse { status } is field 1 as a varint: 08 <status>.
        Check: (_call: unknown, callback: (error: null, response: Buffer) => void) =>
          callback(null, Buffer.from([0x08, status])),
      },
    );
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) =>
        error ? reject(error) : resolve(bound),
      ),
    );
    servers.push(server);
    return `127.0.0.1:${port}`;
  }
  afterAll(() => servers.forEach((server) => server.forceShutdown()));

  it('passes when every service reports SERVING, and names each', async () => {
    const targets = [await healthServer(SERVING), await healthServer(SERVING)];
    const result = await runCheck('check-grpc-health.js', { GRPC_TARGETS: targets.join(',') });
    expect(result).toEqual({ exitCode: 0, output: targets.map((target) => `${target}: SERVING\n`).join('') });
  });

  it('fails naming the one service that is not serving', async () => {
    const healthy = await healthServer(SERVING);
    const draining = await healthServer(NOT_SERVING);
    const result = await runCheck('check-grpc-health.js', { GRPC_TARGETS: `${healthy},${draining}` });
    expect(result.exitCode).toBe(1);
    expect(result.output).toContain(`${healthy}: SERVING`);
    expect(result.output).toContain(`${draining}: not serving (response 0802)`);
  });

  it('fails when a service cannot be reached', async () => {
    const target = `127.0.0.1:${await closedPort()}`;
    const result = await runCheck('check-grpc-health.js', { GRPC_TARGETS: target });
    expect(result.exitCode).toBe(1);
    expect(result.output).toContain(`${target}: 14 UNAVAILABLE`);
  });

  it('refuses to pass with nothing to check', async () => {
    expect(await runCheck('check-grpc-health.js', { GRPC_TARGETS: '' })).toEqual({
      exitCode: 1,
      output: 'GRPC_TARGETS is empty\n',
    });
  });
});
