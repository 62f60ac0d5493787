/**
 * One service of the embedded platform in a worker thread of its own: its PGlite database, gRPC server,
 * outbox relay and consumers run here, so a busy service (a PDF being rendered, a ZIP being written, a
 * query) never holds up the gateway or the other services. Events reach the process's hub in the main
 * thread over the MessagePort given in workerData; the main thread drives start and stop over parentPort.
 */
import '@kantoor/telemetry/register';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { ThreadTransport } from '@kantoor/events';
import { useCallerSigningKey } from '@kantoor/grpc';
import { embeddedPlatform, startService, type RunningService } from '@kantoor/service-runtime';
import { prometheusText, shutdownTelemetry } from '@kantoor/telemetry';
import { platformService } from './platform-services';

export interface ServiceWorkerData {
  service: string;
  dataDir: string;
  inMemory: boolean;
  logLevel: string;
  host: string;
  port: number;
  events: MessagePort;
  smtp?: { host: string; port: number };
  intakeSmtpPort?: number;
  /** host:port of the directory (empty for the directory itself) */
  directoryAddress: string;
  /** the platform's caller signing key (every thread signs and checks with the same) */
  callerSigningKey: string;
}

/** main → worker */
export type WorkerCommand = { kind: 'drain' } | { kind: 'stop' } | { kind: 'metrics'; id: number };

/** worker → main */
export type WorkerReport =
  | { kind: 'ready'; port: number }
  | { kind: 'failed'; message: string }
  | { kind: 'stopped' }
  | { kind: 'metrics'; id: number; text: string };

async function run(data: ServiceWorkerData, port: MessagePort): Promise<void> {
  const report = (message: WorkerReport) => port.postMessage(message);
  const transport = new ThreadTransport(data.events);
  useCallerSigningKey(data.callerSigningKey);
  let service: RunningService;
  try {
    const definition = platformService(data.service, {
      smtp: data.smtp,
      intakeSmtpPort: data.intakeSmtpPort,
      directoryAddress: () => data.directoryAddress,
    });
    const platform = embeddedPlatform({
      dataDir: data.dataDir,
      logLevel: data.logLevel,
      transport,
      inMemory: data.inMemory,
    });
    service = await startService(definition, platform, { host: data.host, port: data.port });
  } catch (error) {
    await transport.close().catch(() => undefined);
    report({ kind: 'failed', message: (error as Error).stack ?? String(error) });
    return;
  }
  port.on('message', (command: WorkerCommand) => {
    if (command.kind === 'drain') service.drain();
    else if (command.kind === 'metrics')
      void prometheusText().then((text) => report({ kind: 'metrics', id: command.id, text }));
    else if (command.kind === 'stop')
      void (async () => {
        try {
          await service.stop();
        } finally {
          await transport.close().catch(() => undefined);
          // what this thread's telemetry still buffers (spans, the last metrics) goes out before it ends
          await shutdownTelemetry().catch(() => undefined);
          report({ kind: 'stopped' });
          port.close();
        }
      })();
  });
  report({ kind: 'ready', port: service.port });
}

if (parentPort) void run(workerData as ServiceWorkerData, parentPort);
