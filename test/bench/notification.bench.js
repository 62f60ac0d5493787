#!/usr/bin/env node
/**
 * Notification: directory events → intents → rendered mails → SMTP → the local sink, in one process on PGlite
 * (embedded mode). Publishes BENCH_MAILS staff invitations as events, then measures how many mails per second
 * are rendered and accepted by the sink (a real SMTP server on loopback), from the first event to the last
 * mail received. Prints one JSON line; exits non-zero when below the budget.
 *
 *   pnpm exec tsc -b packages/smtp-sink services/notification && node test/bench/notification.bench.js
 *
 * Fails too when a mail arrived twice (same Message-ID) or is not recorded as sent within 10 s of arriving.
 *
 * Settings: BENCH_DATABASE (pglite, or postgres: the cluster's database), BENCH_MAILS (2000), BENCH_BUDGET_PER_SECOND (200), BENCH_BATCH (100: mails claimed per round),
 * BENCH_CONNECTIONS (20: SMTP connections to the sink).
 */
const { randomUUID } = require('node:crypto');
const os = require('node:os');
const path = require('node:path');
// the workspace root does not depend on protobuf-es itself; take the copy the events package uses
const fromEvents = (name) => require(require.resolve(name, { paths: [path.join(__dirname, '../../packages/events')] }));
const { create } = fromEvents('@bufbuild/protobuf');
const { anyPack, timestampFromDate } = fromEvents('@bufbuild/protobuf/wkt');
const { encodeEnvelope, InProcessTransport, topicOf } = require('../../packages/events');
const { embeddedPlatform, startService } = require('../../packages/service-runtime');
const { startSmtpSink } = require('../../packages/smtp-sink');
const { createNotificationService } = require('../../services/notification');
const { EventEnvelopeSchema } = require('../../proto/dist/kantoor/events/v1/envelope_pb');
const { FirmRegisteredSchema, StaffInvitedSchema } = require('../../proto/dist/kantoor/directory/v1/events_pb');

const { Client } = require('pg');
const { PgDatabase } = require('../../packages/database');

const N = Number(process.env.BENCH_MAILS ?? 2000);
const DATABASE = process.env.BENCH_DATABASE ?? 'pglite';
const SERVER = process.env.KANTOOR_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

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
const BUDGET = Number(process.env.BENCH_BUDGET_PER_SECOND ?? 200);
const BATCH = Number(process.env.BENCH_BATCH ?? 100);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);

function record(schema, value) {
  const id = randomUUID();
  const envelope = create(EventEnvelopeSchema, {
    id,
    type: schema.typeName,
    source: 'directory',
    occurredAt: timestampFromDate(new Date()),
    firmId: value.firmId,
    payload: anyPack(schema, create(schema, value)),
  });
  return {
    topic: topicOf('directory'),
    key: value.firmId,
    value: encodeEnvelope(envelope),
    headers: { 'event-id': id, 'event-type': schema.typeName },
  };
}

async function main() {
  const sink = await startSmtpSink({ limit: N + 10 });
  const transport = new InProcessTransport();
  const embedded = embeddedPlatform({ dataDir: os.tmpdir(), inMemory: true, transport, logLevel: 'error' });
  // BENCH_DATABASE=postgres: the service's database on PostgreSQL (as in the cluster), a scratch database
  const scratch = DATABASE === 'postgres' ? await scratchPostgres() : undefined;
  const platform = scratch
    ? { ...embedded, openDatabase: async () => new PgDatabase({ connectionString: scratch.url, max: 12 }) }
    : embedded;
  const definition = createNotificationService({
    settings: {
      NOTIFICATION_SECRET_KEY: Buffer.alloc(32, 1).toString('base64'),
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
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const deliveredMs = performance.now() - started;
    // The sink accepts a mail before the worker records the batch it belongs to as sent: wait for the record,
    // so that a mail that arrived but was never recorded (it would be sent again) shows.
    const recordedSent = async () =>
      (await service.db.query(`SELECT count(*)::int AS sent FROM notification WHERE status = 'sent'`)).rows[0].sent;
    let sent = await recordedSent();
    const recordedAtArrival = sent;
    for (const waitUntil = performance.now() + 10_000; sent < N && performance.now() < waitUntil;) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      sent = await recordedSent();
    }
    const duplicates = N - new Set(sink.messages().map((message) => message.messageId)).size;
    const mailsPerSecond = Math.round((N / deliveredMs) * 1000);
    const figures = {
      database: DATABASE,
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
      withinBudget: mailsPerSecond >= BUDGET && sent === N && duplicates === 0,
    };
    console.log(
      `${N} mails rendered and delivered to the local sink in ${figures.seconds} s: ${mailsPerSecond} mails/s (budget ${BUDGET})`,
    );
    console.log(JSON.stringify(figures));
    if (!figures.withinBudget) process.exitCode = 1;
  } finally {
    await service.stop();
    await transport.close();
    await scratch?.drop();
    await sink.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
