#!/usr/bin/env node
/**
 * Outbox → relay → in-process transport → idempotent consumer, on PostgreSQL.
 *
 * Writes N events into the outbox of a scratch database, then starts the relay and an inbox consumer whose
 * handler writes one effect row per event in the inbox transaction, and measures how many events per second
 * the relay publishes and how many reach the effect table. The transport hands the consumer records of
 * different dossiers on parallel lanes (BENCH_CONCURRENCY, default the transport's 8), each record in its
 * own committed transaction, so delivery is bounded by concurrent commits on the database's disk. Prints
 * one JSON line; exits non-zero when delivery is below the budget.
 *
 *   pnpm exec tsc -b packages/events && node test/bench/outbox-relay.bench.js
 *
 * Settings: BENCH_EVENTS (20000), BENCH_BUDGET_PER_SECOND (2000), BENCH_CONCURRENCY (8),
 * KANTOOR_BENCH_POSTGRES (postgres://postgres@127.0.0.1:5432/test; a scratch database is created beside it).
 */
const { randomBytes } = require('node:crypto');
const { Client } = require('pg');
const { PgDatabase, migrate } = require('../../packages/database');
const events = require('../../packages/events');
const { FirmRegisteredSchema } = require('../../proto/dist/kantoor/directory/v1/events_pb');

const N = Number(process.env.BENCH_EVENTS ?? 20_000);
const BUDGET = Number(process.env.BENCH_BUDGET_PER_SECOND ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const SERVER = process.env.KANTOOR_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';
const quiet = { info() {}, warn() {}, error: (fields, message) => console.error(message, fields) };

async function onServer(sql) {
  const client = new Client({ connectionString: SERVER });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function main() {
  const name = `kantoor_bench_${randomBytes(4).toString('hex')}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  // one connection per lane, one for the relay's batch transaction (held while publish() waits for delivery)
  // and a few spare, so that lanes never queue for a connection
  const db = new PgDatabase({ connectionString: url.toString(), max: CONCURRENCY + 4 });
  const transport = new events.InProcessTransport({ logger: quiet, concurrency: CONCURRENCY });
  try {
    await migrate(db, events.migrations());
    await db.query('CREATE TABLE welcomed (event_id text PRIMARY KEY, firm_id text NOT NULL, name text NOT NULL)');

    const appendStarted = performance.now();
    const perTransaction = 100;
    for (let i = 0; i < N; i += perTransaction) {
      await db.transaction(async (tx) => {
        for (let j = i; j < Math.min(i + perTransaction, N); j++) {
          const firmId = `firm-${j % 50}`;
          await events.appendEvent(tx, {
            source: 'directory',
            firmId,
            dossierId: `dossier-${j % 500}`,
            payload: { schema: FirmRegisteredSchema, value: { firmId, name: `Firm ${j}`, language: 'nl' } },
          });
        }
      });
    }
    const appendSeconds = (performance.now() - appendStarted) / 1000;

    let handled = 0;
    let published = 0;
    let relayedSeconds;
    let deliveryStarted;
    let allHandled;
    const done = new Promise((resolve) => (allHandled = resolve));
    // counts acknowledgements: a record counts once the consumer resolved it, i.e. its inbox transaction committed
    const counting = {
      publish: async (records) => {
        await transport.publish(records);
        published += records.length;
        if (published === N) relayedSeconds = (performance.now() - deliveryStarted) / 1000;
      },
      subscribe: (options) =>
        transport.subscribe({
          ...options,
          handler: async (record) => {
            await options.handler(record);
            if (++handled === N) allHandled();
          },
        }),
      close: () => transport.close(),
    };
    const consumer = await events.subscribeHandlers({
      db,
      transport: counting,
      groupId: 'bench-welcome',
      logger: quiet,
      handlers: events.handlerFor(FirmRegisteredSchema, async ({ envelope, payload, tx }) => {
        await tx.query('INSERT INTO welcomed (event_id, firm_id, name) VALUES ($1, $2, $3)', [
          envelope.id,
          payload.firmId,
          payload.name,
        ]);
      }),
    });

    const relay = new events.OutboxRelay({ db, transport: counting, logger: quiet });
    deliveryStarted = performance.now();
    relay.start();
    await done;
    const deliverySeconds = (performance.now() - deliveryStarted) / 1000;
    await relay.stop();
    await consumer.stop();

    const { rows } = await db.query(
      'SELECT (SELECT count(*) FROM welcomed) AS effects, (SELECT count(*) FROM outbox WHERE published_at IS NULL) AS unpublished',
    );
    const deliveredPerSecond = Math.round(N / deliverySeconds);
    const result = {
      bench: 'outbox-relay',
      events: N,
      appendedPerSecond: Math.round(N / appendSeconds),
      relayedPerSecond: Math.round(N / relayedSeconds),
      deliveredPerSecond,
      deliverySeconds: Number(deliverySeconds.toFixed(2)),
      effects: rows[0].effects,
      unpublished: rows[0].unpublished,
      concurrency: CONCURRENCY,
      budgetPerSecond: BUDGET,
      withinBudget: deliveredPerSecond >= BUDGET && rows[0].effects === N,
    };
    console.log(JSON.stringify(result));
    if (!result.withinBudget) process.exitCode = 1;
  } finally {
    await transport.close();
    await db.close();
    await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
