import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createServiceClient, systemCaller } from '@kantoor/grpc';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { temporaryFolder } from '@kantoor/testing';

const DIRECTORY_MAIN = path.join(__dirname, '..', '..', '..', 'services', 'directory', 'dist', 'main.js');

/** The built directory as its own process, embedded mode, data in `dataDir`, any gRPC port, plus `env`. */
const startDirectory = (dataDir: string, env: Record<string, string>) =>
  spawn(process.execPath, [DIRECTORY_MAIN], {
    env: { ...process.env, KANTOOR_MODE: 'embedded', DATA_DIR: dataDir, GRPC_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

/**
 * A service process that is told to stop (SIGTERM, as Kubernetes does) exports what its telemetry still holds
 * before it exits: with metrics exported every 10 minutes, the only export a short-lived pod makes is the one at
 * shutdown, and without it its metrics would be lost.
 */
describe('a service stopped by SIGTERM', () => {
  let collector: Server;
  let folder: { path: string; remove(): Promise<void> };
  const received: string[] = [];

  beforeAll(async () => {
    folder = await temporaryFolder();
    collector = createServer((request, response) => {
      received.push(`${request.method} ${request.url}`);
      request.resume().on('end', () => response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
    });
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    await new Promise((resolve) => collector.close(resolve));
    await folder.remove();
  });

  it('exports its metrics to the OTLP collector before it exits', async () => {
    const child = startDirectory(folder.path, {
      LOG_LEVEL: 'info',
      OTEL_SDK_DISABLED: 'false',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_METRIC_EXPORT_INTERVAL: '600000',
    });
    child.stderr.pipe(process.stderr);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const port = await new Promise<number>((resolve, reject) => {
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const serving = output.split('\n').find((line) => line.includes('"directory serving"'));
        if (serving) resolve((JSON.parse(serving) as { port: number }).port);
      });
      void exited.then((code) => reject(new Error(`exited with ${code} before serving: ${output}`)));
    });
    // one call, so that the service has a metric to export (rpc.server.duration)
    const client = createServiceClient(DirectoryService, `127.0.0.1:${port}`);
    try {
      await expect(
        client.getFirm({ firmId: '00000000-0000-4000-8000-000000000000' }, { caller: systemCaller('test') }),
      ).rejects.toMatchObject({ kind: 'not_found' });
    } finally {
      client.close();
    }
    expect(received).not.toContain('POST /v1/metrics');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(received).toContain('POST /v1/metrics');
  }, 60_000);
});

describe('a service started with a wrong setting of its own', () => {
  it('stops before it opens anything, with a message naming the setting (exit 78)', async () => {
    const folder = await temporaryFolder();
    try {
      const child = startDirectory(folder.path, { DIRECTORY_ACTIVATION_HOURS: 'three days' });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code).toBe(78);
      expect(stderr).toContain('DIRECTORY_ACTIVATION_HOURS');
      expect(stderr).not.toMatch(/^\s+at /m);
      // no database, no secrets file: nothing was opened
      expect(await readdir(folder.path)).toEqual([]);
    } finally {
      await folder.remove();
    }
  }, 30_000);
});
