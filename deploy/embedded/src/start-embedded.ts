import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { InProcessTransport } from '@kantoor/events';
import { createServiceClient, systemCaller } from '@kantoor/grpc';
import { createLogger, type Logger } from '@kantoor/logging';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { embeddedPlatform, startService, type RunningService } from '@kantoor/service-runtime';
import { platformServices } from './platform-services';

export interface EmbeddedOptions {
  dataDir: string;
  /** first gRPC port; services take consecutive ports (0: any free port each, for tests) */
  basePort: number;
  logLevel?: string;
  /** databases in memory instead of under dataDir (tests) */
  inMemory?: boolean;
  logger?: Logger;
  /** where the notification service delivers mail */
  smtp?: { host: string; port: number };
  /** the e-mail intake's SMTP port (0: off) */
  intakeSmtpPort?: number;
}

export interface EmbeddedServices {
  services: Map<string, RunningService>;
  addresses: Record<string, string>;
  transport: InProcessTransport;
  demo: DemoLogin;
  stop(): Promise<void>;
}

export interface DemoLogin {
  firmId: string;
  email: string;
  password: string;
}

/**
 * Every service in this process: each with its own PGlite database under the data folder and its own gRPC
 * server on a loopback port, all sharing one in-process event transport.
 */
export async function startEmbeddedServices(options: EmbeddedOptions): Promise<EmbeddedServices> {
  // closed until every service has subscribed: a relay publishing left-over outbox rows at start must not
  // deliver them before their consumers exist
  const transport = new InProcessTransport({ startClosed: true });
  const platform = embeddedPlatform({
    dataDir: options.dataDir,
    logLevel: options.logLevel,
    transport,
    inMemory: options.inMemory,
  });
  const services = new Map<string, RunningService>();
  const stopAll = async () => {
    for (const service of [...services.values()].reverse()) service.drain();
    for (const service of [...services.values()].reverse()) await service.stop();
    await transport.close();
  };
  try {
    // sequential on purpose: PGlite runs on this one thread, so parallel opening gains nothing and
    // interleaves the logs
    const definitions = platformServices({
      smtp: options.smtp,
      intakeSmtpPort: options.intakeSmtpPort,
      directoryAddress: () => `127.0.0.1:${services.get('directory')?.port}`,
    });
    for (const { definition, offset } of definitions) {
      const port = options.basePort === 0 ? 0 : options.basePort + offset;
      services.set(definition.name, await startService(definition, platform, { host: '127.0.0.1', port }));
    }
    transport.open();
  } catch (error) {
    await stopAll();
    throw error;
  }
  const addresses = Object.fromEntries(
    [...services.values()].map((service) => [service.name, `127.0.0.1:${service.port}`]),
  );
  const demo = await seedDemoFirm(options.dataDir, addresses.directory, options.inMemory ?? false);
  return { services, addresses, transport, demo, stop: stopAll };
}

/**
 * On the first start the platform registers a demo firm whose admin can log in at once; the generated
 * password is kept in the data folder (readable by the owner only) and shown at every start.
 */
async function seedDemoFirm(dataDir: string, directoryAddress: string, inMemory: boolean): Promise<DemoLogin> {
  const file = path.join(dataDir, 'demo-login.json');
  if (!inMemory) {
    const existing = await readFile(file, 'utf8')
      .then((text) => JSON.parse(text) as DemoLogin)
      .catch(() => undefined);
    if (existing) return existing;
  }
  const directory = createServiceClient(DirectoryService, directoryAddress);
  try {
    const password = randomBytes(12).toString('base64url');
    const email = 'admin@demo.kantoor.localhost';
    const { firm } = await directory.registerFirm(
      {
        name: 'Demo Accountants',
        functionalEmail: 'office@demo.kantoor.localhost',
        language: 'en',
        adminName: 'Demo Admin',
        adminEmail: email,
        adminPassword: password,
      },
      { caller: systemCaller('embedded-setup') },
    );
    const demo = { firmId: firm!.id, email, password };
    if (!inMemory) {
      await mkdir(dataDir, { recursive: true });
      await writeFile(file, JSON.stringify(demo, null, 2), { mode: 0o600 });
    }
    return demo;
  } finally {
    directory.close();
  }
}

export { createLogger };
