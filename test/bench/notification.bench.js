#!/usr/bin/env node
/**
 * Notification, in two parts (BENCH_PARTS: mail,webhooks; both by default, each in a process of its own). Prints one
 * JSON line: the mail figures at the top, the webhook figures under `webhooks`, and `withinBudget` when both parts are;
 * exits non-zero otherwise.
 *
 *   pnpm exec tsc -b packages/smtp-sink services/notification && node --expose-gc test/bench/notification.bench.js
 *
 * mail: directory events → intents → rendered mails → SMTP → the local sink, in one process on PGlite
 * (embedded mode). Publishes BENCH_MAILS staff invitations as events, then measures how many mails per second
 * are rendered and accepted by the sink (a real SMTP server on loopback), from the first event to the last
 * mail received. Budget: BENCH_BUDGET_PER_SECOND (200) mails/s. Fails too when a mail arrived twice (same
 * Message-ID) or is not recorded as sent within 10 s of arriving.
 * Settings: BENCH_DATABASE (pglite, or postgres: the cluster's database), BENCH_MAILS (2000), BENCH_BATCH (100: mails
 * claimed per round), BENCH_CONNECTIONS (20: SMTP connections to the sink).
 *
 * webhooks: document intake `DocumentsSent` events → the `documents.sent` webhook of BENCH_WEBHOOKS (3) subscriptions
 * of one firm → signed POSTs to a real receiver (webhook-receiver.js: node:http on 127.0.0.1, in a process of its own,
 * checking every request's Standard Webhooks signature with the standard's library). The service runs here with the
 * embedded mode's address rules (http and private networks allowed) and its default NOTIFICATION_WEBHOOK_CONCURRENCY
 * (BENCH_WEBHOOK_CONCURRENCY overrides it), on PostgreSQL when one answers at KANTOOR_BENCH_POSTGRES (a scratch
 * database, dropped afterwards), else on PGlite; BENCH_DATABASE chooses. After BENCH_WEBHOOK_WARMUP (100) events
 * delivered unmeasured, two runs of BENCH_WEBHOOK_EVENTS (1000) events each, published 100 at a time as the mail part
 * does:
 *  - `delivered`: the receiver answers 204: deliveries per second from the first event published to the last delivery
 *    recorded as delivered (its `delivered_at`), CPU ms per delivery of this process (the service, and the publishing),
 *    of the receiver and of every `postgres` process, and this process's resident memory growth (peak, sampled every
 *    50 ms, and after the run and a full collection, over a baseline taken after one) and JavaScript heap growth (on
 *    PGlite the RSS holds the in-memory database too, which grows with the rows written);
 *  - `retried`: other subscriptions of another firm, whose receiver answers 500 to the first attempt of each delivery
 *    and 204 to the second, with NOTIFICATION_WEBHOOK_RETRY_SCHEDULE at BENCH_WEBHOOK_RETRY_SECONDS (0.1): deliveries
 *    per second, the retry included.
 * Budget: BENCH_WEBHOOK_BUDGET_PER_SECOND (200) deliveries/s in both runs, with no bad signature, every delivery
 * recorded delivered after 1 (2 with the retry) attempts, and no copy received.
 * BENCH_NODE_ARGS is not read: to profile, run this script with `node --cpu-prof --cpu-prof-dir=/tmp/prof`
 * (BENCH_PARTS=webhooks for the webhook part alone).
 */
const { fork, spawnSync } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const os = require('node:os');
const path = require('node:path');
// the workspace root does not depend on protobuf-es itself; take the copy the events package uses
const fromEvents = (name) => require(require.resolve(name, { paths: [path.join(__dirname, '../../packages/events')] }));
const { create } = fromEvents('@bufbuild/protobuf');
const { anyPack, timestampFromDate } = fromEvents('@bufbuild/protobuf/wkt');
const { encodeEnvelope, InProcessTransport, topicOf } = require('../../packages/events');
const { createServiceClient } = require('../../packages/grpc');
const { embeddedPlatform, startService } = require('../../packages/service-runtime');
const { startSmtpSink } = require('../../packages/smtp-sink');
const { createNotificationService } = require('../../services/notification');
const { EventEnvelopeSchema } = require('../../proto/dist/kantoor/events/v1/envelope_pb');
const { FirmRegisteredSchema, StaffInvitedSchema } = require('../../proto/dist/kantoor/directory/v1/events_pb');
const { DocumentsSentSchema } = require('../../proto/dist/kantoor/document_intake/v1/events_pb');
const { NotificationService } = require('../../proto/dist/kantoor/notification/v1/notification_pb');
const { cpuOf, machineLoopSeconds, postgresCpuSeconds, stolenCpuSeconds } = require('./process-figures');

const { Client } = require('pg');
const { PgDatabase } = require('../../packages/database');

const PARTS = (process.env.BENCH_PARTS ?? 'mail,webhooks').split(',');
const N = Number(process.env.BENCH_MAILS ?? 2000);
const SERVER = process.env.KANTOOR_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const BUDGET = Number(process.env.BENCH_BUDGET_PER_SECOND ?? 200);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const WEBHOOKS = Number(process.env.BENCH_WEBHOOKS ?? 3);
const WEBHOOK_EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 1000);
const WEBHOOK_WARMUP = Number(process.env.BENCH_WEBHOOK_WARMUP ?? 100);
const WEBHOOK_BUDGET = Number(process.env.BENCH_WEBHOOK_BUDGET_PER_SECOND ?? 200);
const WEBHOOK_RETRY_SECONDS = Number(process.env.BENCH_WEBHOOK_RETRY_SECONDS ?? 0.1);
const WEBHOOK_CONCURRENCY = process.env.BENCH_WEBHOOK_CONCURRENCY
  ? Number(process.env.BENCH_WEBHOOK_CONCURRENCY)
  : undefined;
const WEBHOOK_POLL_MS = process.env.BENCH_WEBHOOK_POLL_MS ? Number(process.env.BENCH_WEBHOOK_POLL_MS) : undefined;
const SECRET_KEY = Buffer.alloc(32, 1).toString('base64');

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function scratchPostgres() {
  const name = `kantoor_bench_${randomUUID().slice(0, 8)}`;
  const admin = new Client({ connectionString: SERVER });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new Client({ connectionString: SERVER });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

/** Whether a PostgreSQL server answers at KANTOOR_BENCH_POSTGRES (within 2 s). */
async function postgresAnswers() {
  const client = new Client({ connectionString: SERVER, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The platform of a part: embedded (PGlite in memory), or its database on a scratch PostgreSQL database. */
async function benchPlatform(database, transport) {
  const embedded = embeddedPlatform({ dataDir: os.tmpdir(), inMemory: true, transport, logLevel: 'error' });
  const scratch = database === 'postgres' ? await scratchPostgres() : undefined;
  const platform = scratch
    ? { ...embedded, openDatabase: async () => new PgDatabase({ connectionString: scratch.url, max: 12 }) }
    : embedded;
  return { platform, drop: async () => scratch?.drop() };
}

/** An event as a service's outbox relay publishes it: keyed by its dossier, else its firm (appendEvent's rule). */
function record(schema, value, source = 'directory') {
  const id = randomUUID();
  const envelope = create(EventEnvelopeSchema, {
    id,
    type: schema.typeName,
    source,
    occurredAt: timestampFromDate(new Date()),
    firmId: value.firmId,
    dossierId: value.dossierId ?? '',
    payload: anyPack(schema, create(schema, value)),
  });
  return {
    topic: topicOf(source),
    key: value.dossierId || value.firmId,
    value: encodeEnvelope(envelope),
    headers: { 'event-id': id, 'event-type': schema.typeName },
  };
}

async function mailPart() {
  // BENCH_DATABASE=postgres: the service's database on PostgreSQL (as in the cluster), a scratch database
  const database = process.env.BENCH_DATABASE ?? 'pglite';
  const sink = await startSmtpSink({ limit: N + 10 });
  const transport = new InProcessTransport();
  const { platform, drop } = await benchPlatform(database, transport);
  const definition = createNotificationService({
    settings: {
      NOTIFICATION_SECRET_KEY: SECRET_KEY,
      NOTIFICATION_SMTP_HOST: sink.host,
      NOTIFICATION_SMTP_PORT: sink.port,
      NOTIFICATION_BATCH_SIZE: BATCH,
      NOTIFICATION_POLL_MS: 10,
      NOTIFICATION_SMTP_CONNECTIONS: CONNECTIONS,
    },
  });
  const service = await startService(definition, platform, { host: '127.0.0.1', port: 0 });
  try {
    const firmId = randomUUID();
    await transport.publish([
      record(FirmRegisteredSchema, {
        firmId,
        name: 'Bench & Partners',
        functionalEmail: 'office@bench.example',
        language: 'nl',
      }),
    ]);
    const started = performance.now();
    const languages = ['nl', 'fr', 'en'];
    const publishing = (async () => {
      for (let i = 0; i < N; i += 100) {
        const records = [];
        for (let j = i; j < Math.min(N, i + 100); j++) {
          records.push(
            record(StaffInvitedSchema, {
              firmId,
              staffId: randomUUID(),
              name: `Staff ${j}`,
              email: `staff${j}@bench.example`,
              role: 'employee',
              activationToken: randomUUID(),
              language: languages[j % 3],
            }),
          );
        }
        await transport.publish(records);
      }
    })();
    await publishing;
    const queuedMs = performance.now() - started;
    const pendingAtQueued = N - sink.messages().length;
    while (sink.messages().length < N) {
      if (performance.now() - started > 120_000)
        throw new Error(`only ${sink.messages().length} of ${N} mails arrived in 120 s`);
      await pause(20);
    }
    const deliveredMs = performance.now() - started;
    // The sink accepts a mail before the worker records the batch it belongs to as sent: wait for the record,
    // so that a mail that arrived but was never recorded (it would be sent again) shows.
    const recordedSent = async () =>
      (await service.db.query(`SELECT count(*)::int AS sent FROM notification WHERE status = 'sent'`)).rows[0].sent;
    let sent = await recordedSent();
    const recordedAtArrival = sent;
    for (const waitUntil = performance.now() + 10_000; sent < N && performance.now() < waitUntil;) {
      await pause(20);
      sent = await recordedSent();
    }
    const duplicates = N - new Set(sink.messages().map((message) => message.messageId)).size;
    const mailsPerSecond = Math.round((N / deliveredMs) * 1000);
    const figures = {
      database,
      mails: N,
      eventsToIntentsPerSecond: Math.round((N / queuedMs) * 1000),
      // once no event competes for the database thread: render, send and record alone
      deliveryOnlyPerSecond: Math.round((pendingAtQueued / (deliveredMs - queuedMs)) * 1000),
      mailsPerSecond,
      seconds: Number((deliveredMs / 1000).toFixed(2)),
      recordedSent: sent,
      recordedSentAtArrival: recordedAtArrival,
      duplicateMessageIds: duplicates,
      budgetPerSecond: BUDGET,
      mailWithinBudget: mailsPerSecond >= BUDGET && sent === N && duplicates === 0,
    };
    console.log(
      `${N} mails rendered and delivered to the local sink in ${figures.seconds} s: ${mailsPerSecond} mails/s (budget ${BUDGET})`,
    );
    return figures;
  } finally {
    await service.stop();
    await transport.close();
    await drop();
    await sink.stop();
  }
}

/** The receiver process (webhook-receiver.js), with `ask(message, key)`: the next answer carrying `key`. */
async function startReceiver() {
  const child = fork(path.join(__dirname, 'webhook-receiver.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waiting = [];
  child.on('message', (message) => {
    const index = waiting.findIndex(({ key }) => key in message);
    if (index < 0) return;
    const [{ key, resolve }] = waiting.splice(index, 1);
    resolve(message[key]);
  });
  const answerWith = (key) => new Promise((resolve) => waiting.push({ key, resolve }));
  const ready = answerWith('port');
  const exited = new Promise((_, reject) =>
    child.once('exit', (code) => reject(new Error(`the receiver exited (${code})`))),
  );
  exited.catch(() => undefined);
  const port = await Promise.race([ready, exited]);
  return {
    pid: child.pid,
    url: (where) => `http://127.0.0.1:${port}${where}`,
    ask(message, key) {
      const answer = answerWith(key);
      child.send(message);
      return Promise.race([answer, exited]);
    },
    stop() {
      child.disconnect();
      return new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve()));
    },
  };
}

async function webhookPart() {
  const database = process.env.BENCH_DATABASE ?? ((await postgresAnswers()) ? 'postgres' : 'pglite');
  const machine = machineLoopSeconds();
  const receiver = await startReceiver();
  const transport = new InProcessTransport();
  const { platform, drop } = await benchPlatform(database, transport);
  const definition = createNotificationService({
    settings: {
      NOTIFICATION_SECRET_KEY: SECRET_KEY,
      // embedded mode's defaults, whatever the database: the receiver is http on 127.0.0.1
      NOTIFICATION_WEBHOOK_ALLOW_HTTP: true,
      NOTIFICATION_WEBHOOK_ALLOW_PRIVATE_NETWORKS: true,
      NOTIFICATION_WEBHOOK_RETRY_SCHEDULE: [WEBHOOK_RETRY_SECONDS, WEBHOOK_RETRY_SECONDS],
      ...(WEBHOOK_CONCURRENCY ? { NOTIFICATION_WEBHOOK_CONCURRENCY: WEBHOOK_CONCURRENCY } : {}),
      ...(WEBHOOK_POLL_MS ? { NOTIFICATION_POLL_MS: WEBHOOK_POLL_MS } : {}),
    },
  });
  const service = await startService(definition, platform, { host: '127.0.0.1', port: 0 });
  const client = createServiceClient(NotificationService, `127.0.0.1:${service.port}`);
  try {
    /** WEBHOOKS subscriptions of a new firm at `/<kind>/<n>` of the receiver, which gets their secrets */
    const subscribedFirm = async (kind) => {
      const firmId = randomUUID();
      const caller = { kind: 'staff', subjectId: randomUUID(), firmId, role: 'admin', scopes: [] };
      const secrets = {};
      for (let n = 0; n < WEBHOOKS; n++) {
        const where = `/${kind}/${n}`;
        const created = await client.createWebhook(
          { url: receiver.url(where), eventTypes: ['documents.sent'], description: `bench receiver ${where}` },
          { caller },
        );
        secrets[where] = created.secret;
      }
      await receiver.ask({ secrets }, 'secretsTaken');
      return firmId;
    };
    /** `count` DocumentsSent events of the firm, published 100 at a time */
    const publishEvents = async (firmId, count) => {
      for (let i = 0; i < count; i += 100) {
        const records = [];
        for (let j = i; j < Math.min(count, i + 100); j++) {
          records.push(
            record(
              DocumentsSentSchema,
              {
                firmId,
                dossierId: randomUUID(),
                documentIds: [randomUUID(), randomUUID()],
                actorId: randomUUID(),
                automatic: j % 2 === 0,
                sentAt: timestampFromDate(new Date()),
              },
              'document-intake',
            ),
          );
        }
        await transport.publish(records);
      }
    };
    /** the firm's deliveries as recorded: delivered ones, the time of the last, and attempts */
    const recorded = async (firmId) => {
      const { rows } = await service.db.query(
        `SELECT count(*) FILTER (WHERE status = 'delivered')::int AS delivered,
                coalesce(sum(attempts), 0)::int AS attempts,
                extract(epoch FROM max(delivered_at)) * 1000 AS last_delivered_ms
           FROM webhook_delivery WHERE firm_id = $1`,
        [firmId],
      );
      return { ...rows[0], last_delivered_ms: Number(rows[0].last_delivered_ms) };
    };
    const countsOf = async (kind) =>
      (await receiver.ask({ counts: true }, 'counts'))[kind] ?? { requests: 0, deliveries: 0 };
    /** waits until the receiver has every delivery of the run and the service recorded each as delivered */
    const settled = async (firmId, kind, deliveries) => {
      const until = performance.now() + 120_000;
      let counts = await countsOf(kind);
      while (counts.deliveries < deliveries || counts.requests < deliveries * (kind === 'flaky' ? 2 : 1)) {
        if (performance.now() > until)
          throw new Error(`only ${counts.deliveries} of ${deliveries} webhook deliveries arrived in 120 s`);
        await pause(20);
        counts = await countsOf(kind);
      }
      const receivedAt = Date.now();
      let state = await recorded(firmId);
      while (state.delivered < deliveries && performance.now() < until) {
        await pause(20);
        state = await recorded(firmId);
      }
      return { counts: await countsOf(kind), receivedAt, state };
    };

    const run = async (kind, events) => {
      const firmId = await subscribedFirm(kind);
      const deliveries = events * WEBHOOKS;
      global.gc?.();
      const { rss: rssBefore, heapUsed: heapBefore } = process.memoryUsage();
      let rssPeak = rssBefore;
      const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, process.memoryUsage().rss)), 50);
      const cpuBefore = process.cpuUsage();
      const receiverCpuBefore = cpuOf(receiver.pid);
      const postgresCpuBefore = database === 'postgres' ? postgresCpuSeconds() : 0;
      const stolenBefore = stolenCpuSeconds();
      const started = Date.now();
      await publishEvents(firmId, events);
      const publishedMs = Date.now() - started;
      const { counts, receivedAt, state } = await settled(firmId, kind, deliveries);
      clearInterval(sampler);
      const cpu = process.cpuUsage(cpuBefore);
      const receiverCpu = cpuOf(receiver.pid) - receiverCpuBefore;
      const postgresCpu = database === 'postgres' ? postgresCpuSeconds() - postgresCpuBefore : undefined;
      const stolen = stolenCpuSeconds() - stolenBefore;
      global.gc?.();
      const { rss: rssAfter, heapUsed: heapAfter } = process.memoryUsage();
      const lastDeliveredMs = state.last_delivered_ms - started;
      const perDelivery = (seconds) => Number(((seconds * 1000) / deliveries).toFixed(3));
      const mb = (bytes) => Number((bytes / 1024 / 1024).toFixed(1));
      return {
        events,
        deliveries,
        eventsQueuedPerSecond: Math.round((events / publishedMs) * 1000),
        deliveriesPerSecond: Math.round((deliveries / lastDeliveredMs) * 1000),
        seconds: Number((lastDeliveredMs / 1000).toFixed(2)),
        // the receiver's count may lag the record of the last delivery by the 20 ms it is polled at
        lastReceivedAfterSeconds: Number(((receivedAt - started) / 1000).toFixed(2)),
        recordedDelivered: state.delivered,
        attempts: state.attempts,
        requests: counts.requests,
        answered500: counts.answered500,
        badSignatures: counts.badSignatures,
        copiesReceived: counts.surplus,
        cpuMsPerDelivery: {
          service: perDelivery((cpu.user + cpu.system) / 1e6),
          receiver: perDelivery(receiverCpu),
          ...(postgresCpu === undefined ? {} : { postgres: perDelivery(postgresCpu) }),
        },
        rssGrowthMb: { peak: mb(rssPeak - rssBefore), afterGc: mb(rssAfter - rssBefore) },
        // what JavaScript keeps (PGlite's in-memory database is WebAssembly memory, in the RSS but not here)
        heapGrowthMbAfterGc: mb(heapAfter - heapBefore),
        stolenCpuSeconds: Number(stolen.toFixed(2)),
      };
    };
    /** the budget's rate, every delivery recorded delivered after `attemptsEach` attempts, nothing bad or doubled */
    const within = (figures, attemptsEach) =>
      figures.deliveriesPerSecond >= WEBHOOK_BUDGET &&
      figures.recordedDelivered === figures.deliveries &&
      figures.attempts === figures.deliveries * attemptsEach &&
      figures.requests === figures.attempts &&
      figures.badSignatures === 0 &&
      figures.copiesReceived === 0;

    // unmeasured: the first deliveries compile the path and open the pools
    if (WEBHOOK_WARMUP > 0) {
      const warmFirm = await subscribedFirm('warm');
      await publishEvents(warmFirm, WEBHOOK_WARMUP);
      await settled(warmFirm, 'warm', WEBHOOK_WARMUP * WEBHOOKS);
    }
    const delivered = await run('ok', WEBHOOK_EVENTS);
    const retried = await run('flaky', WEBHOOK_EVENTS);
    const figures = {
      database,
      machineLoopSeconds: machine,
      webhooks: WEBHOOKS,
      concurrency: WEBHOOK_CONCURRENCY ?? 'default',
      retrySeconds: WEBHOOK_RETRY_SECONDS,
      delivered,
      retried,
      budgetPerSecond: WEBHOOK_BUDGET,
      withinBudget: within(delivered, 1) && within(retried, 2),
    };
    console.log(
      `${delivered.deliveries} webhook deliveries (${WEBHOOK_EVENTS} events × ${WEBHOOKS} webhooks) on ${database}: ` +
        `${delivered.deliveriesPerSecond}/s; with a 500 before each: ${retried.deliveriesPerSecond}/s (budget ${WEBHOOK_BUDGET})`,
    );
    return figures;
  } finally {
    client.close();
    await service.stop();
    await transport.close();
    await drop();
    await receiver.stop();
  }
}

/**
 * Runs one part in a process of its own (with this one's node flags, e.g. --expose-gc or --cpu-prof), so that the
 * webhook part's memory baseline is not taken while the mail part's closed database is still being given back.
 */
function partInProcess(part) {
  const run = spawnSync(process.execPath, [...process.execArgv, __filename], {
    env: { ...process.env, BENCH_PARTS: part },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = run.stdout.trim().split('\n');
  const figures = lines.findLast((line) => line.startsWith('{'));
  for (const line of lines) if (line !== figures) console.log(line);
  if (!figures) throw new Error(`the ${part} part printed no figures (exit ${run.status})`);
  return JSON.parse(figures);
}

async function main() {
  const figures = {};
  if (PARTS.length > 1) {
    for (const part of PARTS) Object.assign(figures, partInProcess(part));
  } else {
    if (PARTS.includes('mail')) Object.assign(figures, await mailPart());
    if (PARTS.includes('webhooks')) figures.webhooks = await webhookPart();
  }
  figures.withinBudget = figures.mailWithinBudget !== false && figures.webhooks?.withinBudget !== false;
  console.log(JSON.stringify(figures));
  if (!figures.withinBudget) process.exitCode = 1;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
