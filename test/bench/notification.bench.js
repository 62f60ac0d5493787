#!/usr/bin/env node
/**
 * Notification: directory events → intents → rendered mails → SMTP → the local sink, in one process on PGlite
 * (embedded mode). Publishes BENCH_MAILS staff invitations as events, then measures how many mails per second
 * are rendered and accepted by the sink (a real SMTP server on loopback), from the first event to the last
 * mail received. Prints one JSON line; exits non-zero when below the budget.
 *
 *   pnpm exec tsc -b packages/smtp-sink services/notification && node test/bench/notification.bench.js
 *
 * Settings: BENCH_MAILS (2000), BENCH_BUDGET_PER_SECOND (200), BENCH_BATCH (100: mails claimed per round),
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

const N = Number(process.env.BENCH_MAILS ?? 2000);
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
  const platform = embeddedPlatform({ dataDir: os.tmpdir(), inMemory: true, transport, logLevel: 'error' });
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
    const { rows } = await service.db.query(`SELECT count(*)::int AS sent FROM notification WHERE status = 'sent'`);
    const mailsPerSecond = Math.round((N / deliveredMs) * 1000);
    const figures = {
      mails: N,
      eventsToIntentsPerSecond: Math.round((N / queuedMs) * 1000),
      // once no event competes for the database thread: render, send and record alone
      deliveryOnlyPerSecond: Math.round((pendingAtQueued / (deliveredMs - queuedMs)) * 1000),
      mailsPerSecond,
      seconds: Number((deliveredMs / 1000).toFixed(2)),
      recordedSent: rows[0].sent,
      budgetPerSecond: BUDGET,
      withinBudget: mailsPerSecond >= BUDGET,
    };
    console.log(
      `${N} mails rendered and delivered to the local sink in ${figures.seconds} s: ${mailsPerSecond} mails/s (budget ${BUDGET})`,
    );
    console.log(JSON.stringify(figures));
    if (!figures.withinBudget) process.exitCode = 1;
  } finally {
    await service.stop();
    await transport.close();
    await sink.stop();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
