import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

interface Export {
  path: string;
  contentType: string;
  body: Buffer;
}

/** Starts a fake OTLP/HTTP collector, runs the scenario process against it and returns what it received. */
async function runAgainstCollector(
  env: NodeJS.ProcessEnv,
): Promise<{ exports: Export[]; exitCode: number | null; stderr: string }> {
  const exports: Export[] = [];
  const collector = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      exports.push({
        path: request.url ?? '',
        contentType: request.headers['content-type'] ?? '',
        body: Buffer.concat(chunks),
      });
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
  try {
    let output = '';
    const exitCode = await new Promise<number | null>((resolve) => {
      // a scenario that does not exit by itself after shutdown() is killed and fails the test
      const child = execFile(
        process.execPath,
        ['-r', path.join(__dirname, 'run-typescript.js'), path.join(__dirname, 'otlp-export-scenario.ts')],
        {
          env: {
            ...process.env,
            OTEL_SDK_DISABLED: '',
            ...env,
            OTEL_EXPORTER_OTLP_ENDPOINT: env.OTEL_EXPORTER_OTLP_ENDPOINT ?? endpoint,
          },
          timeout: 15_000,
        },
        (error, _stdout, stderr) => {
          output = stderr;
          resolve(error ? (child.exitCode ?? -1) : 0);
        },
      );
    });
    return { exports, exitCode, stderr: output };
  } finally {
    collector.closeAllConnections();
    await new Promise((resolve) => collector.close(resolve));
  }
}

describe('OTLP export (separate process)', () => {
  it('sends spans and metrics as protobuf to the configured collector when shutdown flushes, then lets the process exit', async () => {
    const { exports, exitCode, stderr } = await runAgainstCollector({});
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    const traces = exports.find((e) => e.path === '/v1/traces');
    const metrics = exports.find((e) => e.path === '/v1/metrics');
    expect(traces?.contentType).toBe('application/x-protobuf');
    expect(metrics?.contentType).toBe('application/x-protobuf');
    expect(traces?.body.includes('issue invoice')).toBe(true);
    expect(traces?.body.includes('kantoor-otlp-test')).toBe(true);
    expect(metrics?.body.includes('kantoor_invoices_issued_total')).toBe(true);
  });

  it('exports nothing and attempts no connection without an OTLP endpoint', async () => {
    // at level warn the SDK reports every failed export, such as one to the default localhost:4318
    const { exports, exitCode, stderr } = await runAgainstCollector({
      OTEL_EXPORTER_OTLP_ENDPOINT: '',
      OTEL_LOG_LEVEL: 'warn',
    });
    expect(exitCode).toBe(0);
    expect(exports).toEqual([]);
    expect(stderr).toBe('');
  });
});
