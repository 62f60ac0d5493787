import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { PgliteDatabase } from '@kantoor/database';
import { readGatewayConfig, startGateway, type RunningGateway } from '@kantoor/gateway';
import { createLogger } from '@kantoor/logging';
import { startSmtpSink, type SmtpSink } from '@kantoor/smtp-sink';
import { startEmbeddedServices, type EmbeddedServices } from './start-embedded';

export interface PlatformOptions {
  dataDir: string;
  /** gateway port (0: any) */
  port: number;
  /** first service port (0: any free port each) */
  grpcBasePort: number;
  smtpSinkPort: number;
  /** the e-mail intake (mail for the dossiers' intake addresses); 0: off */
  intakeSmtpPort?: number;
  logLevel: string;
  /** databases in memory (tests) */
  inMemory?: boolean;
  /** a service thread ended on its own: the platform cannot go on without it */
  onServiceFailure?: (service: string, error: Error) => void;
}

export interface EmbeddedPlatform extends EmbeddedServices {
  gateway: RunningGateway;
  sink: SmtpSink;
  url: string;
}

/** The SMTP sink, every service and the gateway, in this process; `stop()` closes them in reverse order. */
export async function startEmbeddedPlatform(options: PlatformOptions): Promise<EmbeddedPlatform> {
  await mkdir(options.dataDir, { recursive: true });
  const sink = await startSmtpSink({ host: '127.0.0.1', port: options.smtpSinkPort });
  const cleanups: Array<() => Promise<void>> = [() => sink.stop()];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  };
  try {
    // the gateway's database opens in this thread while the services start in theirs
    const gatewayDbOpening = options.inMemory
      ? PgliteDatabase.open()
      : mkdir(path.join(options.dataDir, 'gateway', 'pgdata'), { recursive: true }).then(() =>
          PgliteDatabase.open(path.join(options.dataDir, 'gateway', 'pgdata')),
        );
    cleanups.push(async () => (await gatewayDbOpening.catch(() => undefined))?.close());
    const services = await startEmbeddedServices({
      dataDir: options.dataDir,
      basePort: options.grpcBasePort,
      logLevel: options.logLevel,
      inMemory: options.inMemory,
      smtp: { host: '127.0.0.1', port: sink.port },
      intakeSmtpPort: options.intakeSmtpPort,
      onServiceFailure: options.onServiceFailure,
    });
    cleanups.push(() => services.stop());
    const gatewayDb = await gatewayDbOpening;
    // /readyz answers 503 from the moment stopping begins, while the gateway still drains its requests
    let stopping = false;
    const gateway = await startGateway({
      config: readGatewayConfig({
        // the gateway and the service threads share the machine's cores: see gateway/src/middleware/requests-per-turn.ts
        REQUESTS_PER_LOOP_TURN: '8',
        ...process.env,
        KANTOOR_MODE: 'embedded',
        DATA_DIR: options.dataDir,
        PORT: String(options.port),
        HOST: '127.0.0.1',
        LOG_LEVEL: options.logLevel,
      }),
      logger: createLogger({ service: 'gateway', level: options.logLevel }),
      db: gatewayDb,
      addresses: services.addresses,
      extraServices: { mailbox: sink },
      shuttingDown: () => stopping,
      directoryEvents: { transport: services.transport, groupId: 'gateway' },
    });
    cleanups.push(async () => {
      stopping = true;
      await gateway.close();
    });
    return { ...services, gateway, sink, url: `http://127.0.0.1:${gateway.port}`, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
