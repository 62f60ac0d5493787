import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import { InProcessTransport, serveThreadTransport } from '@kantoor/events';
import { createServiceClient, systemCaller, useCallerSigningKey } from '@kantoor/grpc';
import { createLogger, type Logger } from '@kantoor/logging';
import { DirectoryService } from '@kantoor/proto/kantoor/directory/v1/directory_pb';
import { addMetricsSource } from '@kantoor/telemetry';
import { PLATFORM_SERVICES } from './service-list';
import type { ServiceWorkerData, WorkerCommand, WorkerReport } from './service-worker';

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
  /** a service thread ended on its own (crashed): the platform cannot go on without it */
  onServiceFailure?: (service: string, error: Error) => void;
  /** signs every gRPC call's caller (default: a new random key, also used by this thread, i.e. the gateway) */
  callerSigningKey?: string;
}

/** A service running in a worker thread of its own. */
export interface ServiceThread {
  name: string;
  port: number;
  /** readiness off: its health answers NOT_SERVING */
  drain(): void;
  /** stops the service (requests, consumers, relay, database) and ends its thread */
  stop(): Promise<void>;
}

export interface EmbeddedServices {
  services: Map<string, ServiceThread>;
  addresses: Record<string, string>;
  /** the process's event hub: every service thread publishes and subscribes through it */
  transport: InProcessTransport;
  demo: DemoLogin;
  stop(): Promise<void>;
}

export interface DemoLogin {
  firmId: string;
  email: string;
  password: string;
}

/** Where the built worker script is, also when this module runs from its TypeScript source (tests). */
const WORKER_SCRIPT = path.join(__dirname, '..', 'dist', 'service-worker.js');
const STOP_TIMEOUT_MS = 15_000;

/**
 * Every service of the platform in this process, each in a worker thread of its own with its own PGlite
 * database under the data folder and its own gRPC server on a loopback port; their events meet in one
 * in-process hub in this thread. The directory starts first (the others ask it for access facts), then the
 * rest at once: their databases open in parallel on the machine's cores.
 */
export async function startEmbeddedServices(options: EmbeddedOptions): Promise<EmbeddedServices> {
  const logger = options.logger ?? createLogger({ service: 'embedded', level: options.logLevel ?? 'warn' });
  // every call between the components names its caller signed with this key: another local process that can
  // reach the services' loopback ports cannot act for a user. A new key at each start: nothing signed outlives it.
  const callerSigningKey = options.callerSigningKey ?? randomBytes(32).toString('hex');
  useCallerSigningKey(callerSigningKey);
  // closed until every service has subscribed: a relay publishing left-over outbox rows at start must not
  // deliver them before their consumers exist
  const transport = new InProcessTransport({ startClosed: true, logger });
  const starting = new Map<string, Promise<ServiceThread>>();
  let stopping = false;
  const stopAll = async () => {
    stopping = true;
    const running: ServiceThread[] = [];
    for (const outcome of await Promise.allSettled(starting.values()))
      if (outcome.status === 'fulfilled') running.push(outcome.value);
    for (const service of running) service.drain();
    // the directory last: the others may still ask it while they finish their work in flight
    await Promise.all(running.filter((service) => service.name !== 'directory').map((service) => service.stop()));
    await running.find((service) => service.name === 'directory')?.stop();
    await transport.close();
  };
  const failed = (name: string, error: Error) => {
    if (stopping) return;
    logger.fatal({ err: error, service: name }, `the ${name} service stopped unexpectedly`);
    options.onServiceFailure?.(name, error);
  };
  const start = (name: string, offset: number, directoryAddress: string) => {
    const started = startServiceThread({
      service: name,
      dataDir: options.dataDir,
      inMemory: options.inMemory ?? false,
      logLevel: options.logLevel ?? 'warn',
      host: '127.0.0.1',
      port: options.basePort === 0 ? 0 : options.basePort + offset,
      smtp: options.smtp,
      intakeSmtpPort: options.intakeSmtpPort,
      directoryAddress,
      callerSigningKey,
      transport,
      onFailure: (error) => failed(name, error),
    });
    starting.set(name, started);
    return started;
  };
  // in the declared order, as the addresses list them
  const services = new Map<string, ServiceThread>();
  try {
    const directory = await start('directory', 0, '');
    const directoryAddress = `127.0.0.1:${directory.port}`;
    for (const { name, offset } of PLATFORM_SERVICES)
      if (name !== 'directory') void start(name, offset, directoryAddress);
    const outcomes = await Promise.allSettled(starting.values());
    const refused = outcomes.find((outcome) => outcome.status === 'rejected');
    if (refused) throw refused.reason;
    for (const { name } of PLATFORM_SERVICES) services.set(name, await starting.get(name)!);
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

interface ThreadOptions extends Omit<ServiceWorkerData, 'events'> {
  transport: InProcessTransport;
  onFailure(error: Error): void;
}

/**
 * The young generation of each service thread: 6 MB (2 MB semi-spaces) instead of V8's default of up to 48 MB.
 * The services' garbage is mostly short-lived request objects and Buffers; a small young generation is
 * collected more often, which frees those Buffers' memory sooner and keeps each thread's resident memory down.
 * The directory is the exception: it handles no files, and every gateway request asks it something, so it
 * keeps V8's 48 MB. With 2 MB semi-spaces the objects of its 50 requests in flight were copied and promoted
 * on almost every scavenge, which cost 10–25% of its CPU per request (alternated gateway benches).
 * The images set the same through NODE_OPTIONS (--max-semi-space-size=2, the directory's 16).
 *
 * The main thread (the gateway, `pnpm start`) runs with 16 MB semi-spaces (V8's own maximum): in one process of
 * about 1.5 GB the 42 MB more do not matter, and there every request and every downloaded byte passes through it.
 * With 2 MB semi-spaces half of its time in a ZIP download went to garbage collection (Buffers of chunks still
 * being written were promoted and waited for a full collection); alternated runs: ZIP download 97–115 →
 * 113–139 MB/s, GET /v1/firm about 10% more requests per second.
 */
const YOUNG_GENERATION_MB: Readonly<Record<string, number>> = { directory: 48 };
const DEFAULT_YOUNG_GENERATION_MB = 6;

/** Starts one service's worker thread and resolves once the service serves (or rejects with its reason). */
function startServiceThread(options: ThreadOptions): Promise<ServiceThread> {
  const { transport, onFailure, ...data } = options;
  const events = new MessageChannel();
  const hub = serveThreadTransport(transport, events.port1);
  const worker = new Worker(WORKER_SCRIPT, {
    workerData: { ...data, events: events.port2 } satisfies ServiceWorkerData,
    transferList: [events.port2],
    env: { ...process.env, KANTOOR_SERVICE: data.service },
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB[data.service] ?? DEFAULT_YOUNG_GENERATION_MB },
  });
  const metrics = new Map<number, (text: string) => void>();
  let nextMetrics = 1;
  let stopped: Promise<void> | undefined;
  let ended = false;
  const send = (command: WorkerCommand) => ended || worker.postMessage(command);

  return new Promise<ServiceThread>((resolve, reject) => {
    let ready = false;
    let removeMetrics = () => undefined as void;
    const onStopped: Array<() => void> = [];
    worker.on('message', (report: WorkerReport) => {
      if (report.kind === 'ready') {
        ready = true;
        removeMetrics = addMetricsSource(
          () =>
            new Promise<string>((answer) => {
              if (ended) return answer('');
              const id = nextMetrics++;
              metrics.set(id, answer);
              send({ kind: 'metrics', id });
            }),
        );
        resolve({
          name: data.service,
          port: report.port,
          drain: () => send({ kind: 'drain' }),
          stop: () =>
            (stopped ??= new Promise<void>((done) => {
              if (ended) return done();
              onStopped.push(done);
              const timer = setTimeout(() => void worker.terminate(), STOP_TIMEOUT_MS);
              timer.unref();
              send({ kind: 'stop' });
            })),
        });
      } else if (report.kind === 'failed') {
        reject(new Error(`${data.service} could not start: ${report.message}`));
        void worker.terminate();
      } else if (report.kind === 'metrics') {
        metrics.get(report.id)?.(report.text);
        metrics.delete(report.id);
      } else if (report.kind === 'stopped') {
        void worker.terminate();
      }
    });
    worker.on('error', (error) => {
      if (!ready) reject(error);
      else if (!stopped) onFailure(error);
    });
    worker.on('exit', (code) => {
      ended = true;
      removeMetrics();
      for (const answer of metrics.values()) answer('');
      metrics.clear();
      void hub.close();
      if (!ready) reject(new Error(`${data.service} ended (exit code ${code}) before it served`));
      else if (!stopped) onFailure(new Error(`${data.service} thread ended with exit code ${code}`));
      for (const done of onStopped.splice(0)) done();
    });
  });
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
