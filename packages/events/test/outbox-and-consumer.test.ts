import { create, equals } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import { ROOT_CONTEXT, TraceFlags, context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { migrate, type Database } from '@kantoor/database';
import { isDomainError } from '@kantoor/errors';
import { FirmRegisteredSchema, StaffInvitedSchema } from '@kantoor/proto/kantoor/directory/v1/events_pb';
import { activeRequestId, contextWithRequestId } from '@kantoor/logging';
import { describeEachDatabase } from '@kantoor/testing';
import {
  InProcessTransport,
  OutboxRelay,
  appendEvent,
  decodeEnvelope,
  handlerFor,
  listDeadLetters,
  migrations,
  subscribeHandlers,
  unpackPayload,
  type EventConsumer,
  type EventRecord,
} from '../src';
import {
  AsyncContextManager,
  WELCOME_TABLE,
  eventually,
  interceptedTransport,
  quietLogger,
  recordAll,
  registerFirm,
  welcome,
  welcomedRows,
} from './event-fixtures';

const requestSpan = {
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: TraceFlags.SAMPLED,
};

beforeAll(() => {
  context.setGlobalContextManager(new AsyncContextManager());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(() => {
  context.disable();
  propagation.disable();
});

describeEachDatabase('outbox, relay and idempotent consumer', (open) => {
  let db: Database;
  let dispose: () => Promise<void>;
  let transport: InProcessTransport;
  const stoppers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    ({ db, dispose } = await open());
  });
  afterAll(() => dispose());
  beforeEach(async () => {
    await db.query('DROP TABLE IF EXISTS outbox, inbox, dead_letter, welcomed, schema_migrations');
    await migrate(db, migrations());
    await db.query(WELCOME_TABLE);
    transport = new InProcessTransport({ logger: quietLogger, redeliveryBackoff: { initialMs: 5, maxMs: 20 } });
  });
  afterEach(async () => {
    for (const stop of stoppers.splice(0)) await stop();
    await transport.close();
  });

  const relay = (options: Partial<ConstructorParameters<typeof OutboxRelay>[0]> = {}) =>
    new OutboxRelay({ db, transport, logger: quietLogger, ...options });

  /** The welcome consumer: one `welcomed` row per FirmRegistered it handles. */
  async function welcomeConsumer(
    options: {
      via?: typeof transport | ReturnType<typeof interceptedTransport>;
      failFor?: Set<string>;
      attemptsAt?: number[];
    } = {},
  ): Promise<EventConsumer> {
    const consumer = await subscribeHandlers({
      db,
      transport: options.via ?? transport,
      groupId: 'welcome',
      logger: quietLogger,
      retry: { attempts: 3, initialBackoffMs: 20, maxBackoffMs: 40 },
      handlers: handlerFor(FirmRegisteredSchema, async ({ envelope, payload, tx }) => {
        if (options.failFor?.has(payload.firmId)) {
          options.attemptsAt?.push(Date.now());
          throw new Error(`mail server refused the welcome mail of ${payload.firmId}`);
        }
        await welcome(tx, envelope.id, payload.firmId, envelope.dossierId, payload.name);
      }),
    });
    stoppers.push(() => consumer.stop());
    return consumer;
  }

  it('publishes an event once its transaction commits, and never one whose transaction rolled back', async () => {
    const bystander = await recordAll(transport, 'bystander');
    const before = new Date();
    await expect(
      db.transaction(async (tx) => {
        await appendEvent(tx, {
          source: 'directory',
          firmId: 'firm-rolled-back',
          payload: { schema: FirmRegisteredSchema, value: { firmId: 'firm-rolled-back', name: 'Never BV' } },
        });
        throw new Error('registration refused after the event was appended');
      }),
    ).rejects.toThrow('registration refused');
    const requestContext = trace.setSpanContext(ROOT_CONTEXT, requestSpan);
    const id = await context.with(requestContext, () =>
      db.transaction((tx) =>
        appendEvent(tx, {
          source: 'directory',
          firmId: 'firm-1',
          dossierId: 'dossier-9',
          payload: { schema: FirmRegisteredSchema, value: { firmId: 'firm-1', name: 'Peeters & Co', language: 'nl' } },
        }),
      ),
    );

    const outboxRelay = relay();
    expect(await outboxRelay.relayBatch()).toEqual({ published: 1 });
    expect(await outboxRelay.relayBatch()).toEqual({ published: 0 });
    await eventually(() => bystander.received.length === 1, 'the committed event');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(bystander.received).toHaveLength(1);

    const [record] = bystander.received;
    expect(record).toMatchObject({ topic: 'kantoor.directory.v1', key: 'dossier-9' });
    expect(record.headers).toMatchObject({ 'event-id': id, 'event-type': 'kantoor.directory.v1.FirmRegistered' });
    const envelope = decodeEnvelope(record.value);
    expect(envelope).toMatchObject({
      id,
      type: 'kantoor.directory.v1.FirmRegistered',
      source: 'directory',
      firmId: 'firm-1',
      dossierId: 'dossier-9',
    });
    expect(envelope.traceContext?.traceparent).toBe(`00-${requestSpan.traceId}-${requestSpan.spanId}-01`);
    expect(record.headers.traceparent).toBe(envelope.traceContext?.traceparent);
    const occurredAt = timestampDate(envelope.occurredAt!);
    expect(occurredAt.getTime()).toBeGreaterThanOrEqual(before.getTime());
    expect(occurredAt.getTime()).toBeLessThanOrEqual(Date.now());
    const payload = unpackPayload(envelope);
    expect(
      equals(
        FirmRegisteredSchema,
        payload as never,
        create(FirmRegisteredSchema, { firmId: 'firm-1', name: 'Peeters & Co', language: 'nl' }),
      ),
    ).toBe(true);
    const { rows } = await db.query('SELECT published_at, attempts FROM outbox');
    expect(rows).toEqual([{ published_at: expect.any(Date), attempts: 0 }]);
  });

  it('keys a firm-wide event by its firm and refuses an event without service name or firm', async () => {
    const bystander = await recordAll(transport, 'bystander');
    await registerFirm(db, 'firm-2', 'Janssens');
    await relay().relayBatch();
    await eventually(() => bystander.received.length === 1, 'the event');
    expect(bystander.received[0].key).toBe('firm-2');

    const refusal = (source: string, firmId: string) =>
      db
        .transaction((tx) => appendEvent(tx, { source, firmId, payload: { schema: FirmRegisteredSchema, value: {} } }))
        .catch((error) => error);
    for (const error of [await refusal('Directory Service', 'firm-3'), await refusal('directory', '')]) {
      expect(isDomainError(error) && error.kind).toBe('invalid_argument');
    }
    expect((await db.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n).toBe(1);
  });

  it('continues the trace of the change that caused the event in the consumer', async () => {
    const seen: string[] = [];
    const consumer = await subscribeHandlers({
      db,
      transport,
      groupId: 'tracing',
      logger: quietLogger,
      handlers: handlerFor(FirmRegisteredSchema, async () => {
        seen.push(trace.getSpanContext(context.active())?.traceId ?? 'none');
      }),
    });
    stoppers.push(() => consumer.stop());
    await context.with(trace.setSpanContext(ROOT_CONTEXT, requestSpan), () => registerFirm(db, 'firm-4', 'Maes'));
    await relay().relayBatch();
    await eventually(() => seen.length === 1, 'the handler');
    expect(seen).toEqual([requestSpan.traceId]);
  });

  it("carries the request id of the change on: in the envelope, the record's headers, the handler's context and its own events", async () => {
    const seen: Array<string | undefined> = [];
    const consumer = await subscribeHandlers({
      db,
      transport,
      groupId: 'request-ids',
      logger: quietLogger,
      handlers: handlerFor(FirmRegisteredSchema, async ({ payload, tx }) => {
        seen.push(activeRequestId());
        // what the handling writes (in its transaction) carries the same request id
        if (payload.name === 'Peeters')
          await appendEvent(tx, {
            source: 'directory',
            firmId: 'firm-6',
            payload: { schema: FirmRegisteredSchema, value: { firmId: 'firm-6', name: 'Follow-up', language: 'nl' } },
          });
      }),
    });
    stoppers.push(() => consumer.stop());
    const { received, subscription } = await recordAll(transport, 'request-id-records');
    stoppers.push(() => subscription.stop());
    await context.with(contextWithRequestId('req-42'), () => registerFirm(db, 'firm-5', 'Peeters'));
    await registerFirm(db, 'firm-7', 'Without a request');
    await relay().relayBatch();
    await eventually(() => seen.length === 2, 'the handler, twice');
    await relay().relayBatch();
    await eventually(() => seen.length === 3, 'the handler of the follow-up');
    expect(seen).toEqual(['req-42', undefined, 'req-42']);
    await eventually(() => received.length === 3, 'the three records');
    const ids = received.map((record) => [decodeEnvelope(record.value).requestId, record.headers['request-id']]);
    expect(ids).toEqual([
      ['req-42', 'req-42'],
      ['', undefined],
      ['req-42', 'req-42'],
    ]);
  });

  it('publishes again what a crashed relay had published but not marked, and the consumer applies it once', async () => {
    await welcomeConsumer();
    const deliveries = await recordAll(transport, 'bystander');
    const ids = [await registerFirm(db, 'firm-a', 'A'), await registerFirm(db, 'firm-b', 'B')];
    // the relay process dies after Kafka accepted the batch and before its transaction marked it published
    const crashing = relay({
      transport: interceptedTransport(transport, {
        publish: async (records, publish) => {
          await publish(records);
          throw new Error('relay process killed');
        },
      }),
    });
    await expect(crashing.relayBatch()).rejects.toThrow('relay process killed');
    expect((await db.query('SELECT attempts, last_error FROM outbox WHERE published_at IS NULL')).rows).toEqual([
      { attempts: 1, last_error: 'relay process killed' },
      { attempts: 1, last_error: 'relay process killed' },
    ]);

    expect(await relay().relayBatch()).toEqual({ published: 2 });
    await eventually(() => deliveries.received.length === 4, 'both events delivered twice');
    await eventually(async () => (await welcomedRows(db)).length >= 2, 'both welcomes');
    await new Promise((resolve) => setTimeout(resolve, 30));
    // two firms, two keys: handled in either order
    expect((await welcomedRows(db)).map((row) => row.event_id).sort()).toEqual(ids.sort());
    expect((await db.query('SELECT count(*)::int AS n FROM inbox')).rows[0].n).toBe(2);
  });

  it('has one effect when the same record is delivered twice', async () => {
    const delivered: EventRecord[] = [];
    await welcomeConsumer({
      via: interceptedTransport(transport, {
        handler: async (record, handle) => {
          await handle(record);
          delivered.push(record);
        },
      }),
    });
    await registerFirm(db, 'firm-c', 'C');
    await relay().relayBatch();
    await eventually(() => delivered.length === 1, 'the first delivery');
    await transport.publish([delivered[0]]);
    await eventually(() => delivered.length === 2, 'the redelivery');
    expect(await welcomedRows(db)).toHaveLength(1);
  });

  it('has no second effect when the consumer was killed after handling but before acknowledging', async () => {
    let handlerRuns = 0;
    const unacknowledged = new Set<string>();
    // The first delivery of each record is handled (its effect commits) and then never acknowledged, as when
    // the process dies right after the commit: the transport hands the same record over again.
    const killedBeforeAck = interceptedTransport(transport, {
      handler: async (record, handle) => {
        handlerRuns += 1;
        await handle(record);
        if (!unacknowledged.has(record.headers['event-id'])) {
          unacknowledged.add(record.headers['event-id']);
          throw new Error('consumer process killed before acknowledging');
        }
      },
    });
    await welcomeConsumer({ via: killedBeforeAck });
    const ids = [await registerFirm(db, 'firm-d', 'D'), await registerFirm(db, 'firm-e', 'E')];
    await relay().relayBatch();
    await eventually(() => handlerRuns === 4, 'each record delivered twice');
    expect((await welcomedRows(db)).map((row) => row.event_id).sort()).toEqual(ids.sort());
  });

  it('retries a failing handler with back-off, dead-letters it, goes on with the next event, and replays it', async () => {
    const failFor = new Set(['firm-broken']);
    const attemptsAt: number[] = [];
    const consumer = await welcomeConsumer({ failFor, attemptsAt });
    const brokenId = await registerFirm(db, 'firm-broken', 'Broken');
    const nextId = await registerFirm(db, 'firm-next', 'Next');
    await relay().relayBatch();

    await eventually(async () => (await welcomedRows(db)).length === 1, 'the next event');
    expect(attemptsAt).toHaveLength(3);
    expect(attemptsAt[1] - attemptsAt[0]).toBeGreaterThanOrEqual(18);
    expect(attemptsAt[2] - attemptsAt[1]).toBeGreaterThanOrEqual(38);
    expect((await welcomedRows(db)).map((row) => row.event_id)).toEqual([nextId]);
    const [deadLetter] = await listDeadLetters(db, 'welcome');
    expect(deadLetter).toMatchObject({
      eventId: brokenId,
      type: 'kantoor.directory.v1.FirmRegistered',
      topic: 'kantoor.directory.v1',
      key: 'firm-broken',
      attempts: 3,
      error: 'mail server refused the welcome mail of firm-broken',
      resolvedAt: null,
    });

    await expect(consumer.replayDeadLetter(deadLetter.id)).rejects.toThrow('mail server refused');
    expect((await listDeadLetters(db, 'welcome'))[0].attempts).toBe(4);

    failFor.clear();
    expect(await consumer.replayDeadLetter(deadLetter.id)).toBe('handled');
    expect((await welcomedRows(db)).map((row) => row.event_id)).toEqual([nextId, brokenId]);
    expect(await listDeadLetters(db, 'welcome')).toEqual([]);
    expect(await listDeadLetters(db, 'welcome', { includeResolved: true })).toEqual([
      expect.objectContaining({ id: deadLetter.id, resolvedAt: expect.any(Date) }),
    ]);
    const again = await consumer.replayDeadLetter(deadLetter.id).catch((error) => error);
    expect(isDomainError(again) && again.reason).toBe('dead_letter_resolved');
  });

  it('dead-letters an unreadable record at once and acknowledges events it has no handler for', async () => {
    await welcomeConsumer();
    await db.transaction((tx) =>
      appendEvent(tx, {
        source: 'directory',
        firmId: 'firm-f',
        payload: { schema: StaffInvitedSchema, value: { firmId: 'firm-f', name: 'Els' } },
      }),
    );
    await transport.publish([
      {
        topic: 'kantoor.directory.v1',
        key: 'firm-g',
        value: new Uint8Array([0xff, 0xff, 0xff]),
        headers: { 'event-id': 'garbled-1' },
      },
    ]);
    const nextId = await registerFirm(db, 'firm-h', 'H');
    await relay().relayBatch();
    await eventually(async () => (await welcomedRows(db)).length === 1, 'the event after them');
    expect((await welcomedRows(db))[0].event_id).toBe(nextId);
    expect(await listDeadLetters(db, 'welcome')).toEqual([
      expect.objectContaining({ eventId: 'garbled-1', attempts: 1, key: 'firm-g' }),
    ]);
    expect((await db.query('SELECT count(*)::int AS n FROM inbox')).rows[0].n).toBe(1);
  });

  it('delivers one dossier’s events in the order they were written, across batches', async () => {
    await welcomeConsumer();
    const written: Record<string, string[]> = {};
    for (let i = 0; i < 30; i++) {
      const dossier = `dossier-${i % 3}`;
      // some transactions write two events for one dossier
      const ids = await db.transaction(async (tx) => {
        const count = i % 4 === 0 ? 2 : 1;
        const appended: string[] = [];
        for (let n = 0; n < count; n++) {
          appended.push(
            await appendEvent(tx, {
              source: 'directory',
              firmId: 'firm-1',
              dossierId: dossier,
              payload: { schema: FirmRegisteredSchema, value: { firmId: 'firm-1', name: `${i}.${n}` } },
            }),
          );
        }
        return appended;
      });
      (written[dossier] ??= []).push(...ids);
    }
    const outboxRelay = relay({ batchSize: 7, pollIntervalMs: 5 });
    outboxRelay.start();
    stoppers.push(() => outboxRelay.stop());
    await eventually(async () => (await welcomedRows(db)).length === 38, 'every event');
    const handled: Record<string, string[]> = {};
    for (const row of await welcomedRows(db)) (handled[row.dossier_id] ??= []).push(row.event_id);
    expect(handled).toEqual(written);
  });

  it('publishes right after wake() instead of waiting for the next poll, and stops cleanly', async () => {
    const bystander = await recordAll(transport, 'bystander');
    const outboxRelay = relay({ pollIntervalMs: 60_000, pruneIntervalMs: 60_000 });
    outboxRelay.start();
    await new Promise((resolve) => setTimeout(resolve, 30));
    await registerFirm(db, 'firm-i', 'I');
    outboxRelay.wake();
    await eventually(() => bystander.received.length === 1, 'the event within a moment', 2000);
    await outboxRelay.stop();
    await registerFirm(db, 'firm-j', 'J');
    outboxRelay.wake();
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(bystander.received).toHaveLength(1);
  });

  it('keeps events in the outbox while publishing fails, and publishes them in order once it works again', async () => {
    const bystander = await recordAll(transport, 'bystander');
    let failuresLeft = 2;
    const flaky = interceptedTransport(transport, {
      publish: async (records, publish) => {
        if (failuresLeft-- > 0) throw new Error('broker unavailable');
        await publish(records);
      },
    });
    const ids = [
      await registerFirm(db, 'firm-k', 'K', 'dossier-1'),
      await registerFirm(db, 'firm-k', 'K2', 'dossier-1'),
    ];
    const outboxRelay = relay({ transport: flaky, pollIntervalMs: 5, publishBackoff: { initialMs: 10, maxMs: 20 } });
    outboxRelay.start();
    stoppers.push(() => outboxRelay.stop());
    await eventually(() => bystander.received.length === 2, 'the events after the broker came back');
    expect(bystander.received.map((record) => record.headers['event-id'])).toEqual(ids);
    expect((await db.query('SELECT attempts, last_error FROM outbox ORDER BY position')).rows).toEqual([
      { attempts: 2, last_error: 'broker unavailable' },
      { attempts: 2, last_error: 'broker unavailable' },
    ]);
  });

  it('prunes published events past the retention and keeps the rest', async () => {
    const [old, recent, pending] = [
      await registerFirm(db, 'f1', 'old'),
      await registerFirm(db, 'f2', 'recent'),
      await registerFirm(db, 'f3', 'pending'),
    ];
    await db.query(`UPDATE outbox SET published_at = now() - interval '8 days' WHERE id = $1`, [old]);
    await db.query(`UPDATE outbox SET published_at = now() - interval '6 days' WHERE id = $1`, [recent]);
    expect(await relay().prunePublished()).toBe(1);
    expect((await db.query('SELECT id FROM outbox ORDER BY position')).rows.map((row) => row.id)).toEqual([
      recent,
      pending,
    ]);
  });

  it('forgets that an event was handled once that is older than the retention, and only then', async () => {
    await db.query(
      `INSERT INTO inbox (consumer_group, event_id, handled_at)
       VALUES ('welcome', 'e-old', now() - interval '31 days'), ('welcome', 'e-recent', now() - interval '29 days'),
              ('mail', 'e-old', now() - interval '40 days')`,
    );
    expect(await relay().pruneHandled()).toBe(2);
    expect((await db.query("SELECT event_id FROM inbox WHERE event_id LIKE 'e-%'")).rows).toEqual([
      { event_id: 'e-recent' },
    ]);
    expect(await relay({ handledRetentionMs: 60_000 }).pruneHandled()).toBe(1);
  });
});
