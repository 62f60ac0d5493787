/**
 * Idempotent event consumers. Each record is handled in one transaction that first inserts the event id into
 * the group's inbox and then runs the handler with that transaction: the effect and the inbox row commit
 * together, so a redelivered event (the transport delivers at least once) finds its inbox row and has no
 * second effect. A failing handler is tried again with exponential back-off; after the last attempt the
 * event goes to `dead_letter` and is acknowledged, so one bad event does not stop the stream (later events
 * of the same dossier are handled meanwhile; replaying the dead letter applies it late).
 */
import { randomUUID } from 'node:crypto';
import type { DescMessage, Message, MessageShape, Registry } from '@bufbuild/protobuf';
import { SpanKind, SpanStatusCode, context, metrics, trace, type Tracer } from '@opentelemetry/api';
import { protoRegistry } from '@kantoor/proto';
import type { Database, Queryable } from '@kantoor/database';
import { failedPrecondition, invalidArgument, notFound, unavailable } from '@kantoor/errors';
import { contextWithRequestId } from '@kantoor/logging';
import { decodeEnvelope, topicOfEventType, traceHeadersOf, unpackPayload, type EventEnvelope } from './envelope';
import { backoffMs, consoleEventLogger, pause, type EventLogger } from './event-logger';
import { extractTraceContext } from './trace-headers';
import type { EventRecord, EventTransport, Subscription } from './transport';

export interface HandledEvent<M extends Message = Message> {
  envelope: EventEnvelope;
  payload: M;
  /** the transaction that also records the event as handled: write the effect through it */
  tx: Queryable;
}

export type EventHandler<M extends Message = Message> = (event: HandledEvent<M>) => Promise<void>;

/** Handlers by fully qualified payload type name, e.g. `kantoor.directory.v1.FirmRegistered`. */
export type EventHandlers = Record<string, EventHandler>;

/** A typed handler entry: `handlers: { ...handlerFor(FirmRegisteredSchema, async ({ payload, tx }) => ...) }`. */
export function handlerFor<Desc extends DescMessage>(
  schema: Desc,
  handler: EventHandler<MessageShape<Desc>>,
): EventHandlers {
  return { [schema.typeName]: handler as EventHandler };
}

export interface RetryPolicy {
  /** tries before the event is dead-lettered; default 5 */
  attempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
}

export interface EventConsumerOptions {
  db: Database;
  transport: EventTransport;
  /** the consumer group, e.g. `invoicing`; also the owner of inbox and dead-letter rows */
  groupId: string;
  handlers: EventHandlers;
  /** default: the topics of the handled types (`kantoor.directory.v1.X` is on `kantoor.directory.v1`) */
  topics?: string[];
  logger?: EventLogger;
  retry?: Partial<RetryPolicy>;
  /** resolves payload types; default every Kantoor message */
  registry?: Registry;
  tracer?: Tracer;
}

export interface DeadLetter {
  id: string;
  consumerGroup: string;
  eventId: string;
  type: string;
  topic: string;
  key: string;
  error: string;
  attempts: number;
  failedAt: Date;
  resolvedAt: Date | null;
}

/** What became of a delivered record; all of them acknowledge it. */
export type HandlingOutcome = 'handled' | 'duplicate' | 'skipped' | 'dead_lettered';

const DEFAULT_RETRY: RetryPolicy = { attempts: 5, initialBackoffMs: 100, maxBackoffMs: 10_000 };

/** The pauses between the attempts at a failing event, before it is dead-lettered (the default policy: about 1.5 s). */
export function retryDelaysMs(policy: Partial<RetryPolicy> = {}): number[] {
  const { attempts, initialBackoffMs, maxBackoffMs } = { ...DEFAULT_RETRY, ...policy };
  return Array.from({ length: Math.max(attempts - 1, 0) }, (_, index) =>
    backoffMs(index + 1, initialBackoffMs, maxBackoffMs),
  );
}

export class EventConsumer {
  private readonly retry: RetryPolicy;
  private readonly logger: EventLogger;
  private readonly registry: Registry;
  private readonly tracer: Tracer;
  private readonly topics: string[];
  private readonly handledCounter = metrics
    .getMeter('@kantoor/events')
    .createCounter('kantoor.events.handled', { description: 'events consumers received, by outcome' });
  private subscription: Subscription | undefined;
  private stopping = new AbortController();

  constructor(private readonly options: EventConsumerOptions) {
    if (!options.groupId) throw invalidArgument('an event consumer needs a consumer group id');
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!(this.retry.attempts >= 1))
      throw invalidArgument(`retry attempts must be at least 1, got ${this.retry.attempts}`);
    this.logger = options.logger ?? consoleEventLogger;
    this.registry = options.registry ?? protoRegistry;
    this.tracer = options.tracer ?? trace.getTracer('@kantoor/events');
    this.topics = [...new Set(options.topics ?? Object.keys(options.handlers).map(topicOfEventType))];
    if (this.topics.length === 0) throw invalidArgument(`consumer group ${options.groupId} handles no event type`);
  }

  get groupId(): string {
    return this.options.groupId;
  }

  async start(): Promise<void> {
    if (this.subscription) return;
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.subscription = await this.options.transport.subscribe({
      groupId: this.options.groupId,
      topics: this.topics,
      handler: (record) => this.handleRecord(record).then(() => undefined),
    });
  }

  /** Ends a back-off in progress (its record stays unacknowledged) and waits for the handler in flight. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.subscription?.stop();
    this.subscription = undefined;
  }

  /**
   * Handles one record as the transport delivers it. Resolves once the record may be acknowledged: handled,
   * seen before, not for this group, or dead-lettered. Rejects only when not even the dead letter could be
   * written, so that the transport delivers it again.
   */
  async handleRecord(record: EventRecord): Promise<HandlingOutcome> {
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(record.value);
    } catch (error) {
      return this.count(await this.deadLetter(record, undefined, `undecodable envelope: ${describe(error)}`, 1));
    }
    const handler = this.options.handlers[envelope.type];
    if (!handler) return this.count('skipped');
    const traceContext = contextWithRequestId(
      envelope.requestId,
      extractTraceContext({ ...record.headers, ...traceHeadersOf(envelope) }),
    );
    return context.with(traceContext, () =>
      this.tracer.startActiveSpan(
        `process ${record.topic}`,
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            'messaging.operation.type': 'process',
            'messaging.destination.name': record.topic,
            'messaging.consumer.group.name': this.options.groupId,
            'messaging.message.id': envelope.id,
            'kantoor.event.type': envelope.type,
          },
        },
        async (span) => {
          try {
            const outcome = await this.handleWithRetries(record, envelope, handler, (error) =>
              span.recordException(error as Error),
            );
            span.setAttribute('kantoor.event.outcome', outcome);
            if (outcome === 'dead_lettered') span.setStatus({ code: SpanStatusCode.ERROR, message: 'dead-lettered' });
            return this.count(outcome);
          } catch (error) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: describe(error) });
            throw error;
          } finally {
            span.end();
          }
        },
      ),
    );
  }

  /**
   * Runs a dead letter's event through this group's handler again, once, and marks the dead letter resolved
   * in the same transaction. If the handler fails again the dead letter stays, with the new error.
   */
  async replayDeadLetter(deadLetterId: string): Promise<'handled' | 'duplicate'> {
    const { db, groupId } = this.options;
    const { rows } = await db.query<{ envelope: Uint8Array; resolved_at: Date | null }>(
      'SELECT envelope, resolved_at FROM dead_letter WHERE id = $1 AND consumer_group = $2',
      [deadLetterId, groupId],
    );
    if (rows.length === 0) throw notFound(`dead letter ${deadLetterId} of group ${groupId} does not exist`);
    if (rows[0].resolved_at) {
      throw failedPrecondition(`dead letter ${deadLetterId} was already resolved`, { reason: 'dead_letter_resolved' });
    }
    let envelope: EventEnvelope;
    try {
      envelope = decodeEnvelope(rows[0].envelope);
    } catch (error) {
      throw failedPrecondition(`dead letter ${deadLetterId} holds no readable envelope: ${describe(error)}`, {
        reason: 'undecodable_envelope',
      });
    }
    const handler = this.options.handlers[envelope.type];
    if (!handler) {
      throw failedPrecondition(`group ${groupId} has no handler for ${envelope.type}`, { reason: 'no_handler' });
    }
    try {
      return await context.with(
        contextWithRequestId(envelope.requestId, extractTraceContext(traceHeadersOf(envelope))),
        () =>
          this.handleOnce(envelope, handler, async (tx) => {
            const resolved = await tx.query(
              'UPDATE dead_letter SET resolved_at = now() WHERE id = $1 AND resolved_at IS NULL RETURNING id',
              [deadLetterId],
            );
            // a concurrent replay resolved it first: roll back rather than apply the event a second time
            if (resolved.rows.length === 0) {
              throw failedPrecondition(`dead letter ${deadLetterId} was already resolved`, {
                reason: 'dead_letter_resolved',
              });
            }
          }),
      );
    } catch (error) {
      await db.query('UPDATE dead_letter SET attempts = attempts + 1, error = $2, failed_at = now() WHERE id = $1', [
        deadLetterId,
        describe(error),
      ]);
      throw error;
    }
  }

  private async handleWithRetries(
    record: EventRecord,
    envelope: EventEnvelope,
    handler: EventHandler,
    onFailure: (error: unknown) => void,
  ): Promise<HandlingOutcome> {
    const { attempts, initialBackoffMs, maxBackoffMs } = this.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.handleOnce(envelope, handler);
      } catch (error) {
        onFailure(error);
        const fields = {
          err: error,
          groupId: this.options.groupId,
          eventId: envelope.id,
          type: envelope.type,
          attempt,
        };
        if (attempt >= attempts) {
          this.logger.error(fields, 'event handler kept failing; the event is dead-lettered');
          return this.deadLetter(record, envelope, describe(error), attempt);
        }
        const retryInMs = backoffMs(attempt, initialBackoffMs, maxBackoffMs);
        this.logger.warn({ ...fields, retryInMs }, 'event handler failed; tried again after a pause');
        await pause(retryInMs, this.stopping.signal);
        if (this.stopping.signal.aborted) {
          throw unavailable(`consumer ${this.options.groupId} stopped before event ${envelope.id} was handled`, {
            reason: 'consumer_stopping',
          });
        }
      }
    }
  }

  private handleOnce(
    envelope: EventEnvelope,
    handler: EventHandler,
    alsoInTransaction?: (tx: Queryable) => Promise<void>,
  ): Promise<'handled' | 'duplicate'> {
    return this.options.db.transaction(async (tx) => {
      const inserted = await tx.query(
        'INSERT INTO inbox (consumer_group, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING event_id',
        [this.options.groupId, envelope.id],
      );
      await alsoInTransaction?.(tx);
      if (inserted.rows.length === 0) return 'duplicate';
      // unpacked per attempt: a failed attempt may have changed the message it was given
      const payload = unpackPayload(envelope, this.registry);
      if (!payload) throw failedPrecondition(`payload type of ${envelope.type} is unknown to this service`);
      await handler({ envelope, payload, tx });
      return 'handled';
    });
  }

  private async deadLetter(
    record: EventRecord,
    envelope: EventEnvelope | undefined,
    error: string,
    attempts: number,
  ): Promise<'dead_lettered'> {
    // A redelivered event that fails again updates its open dead letter rather than adding a second one.
    await this.options.db.query(
      `INSERT INTO dead_letter (id, consumer_group, event_id, type, topic, key, envelope, headers, error, attempts)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (consumer_group, event_id) WHERE resolved_at IS NULL
       DO UPDATE SET error = EXCLUDED.error, attempts = dead_letter.attempts + EXCLUDED.attempts, failed_at = now()`,
      [
        randomUUID(),
        this.options.groupId,
        envelope?.id ?? record.headers['event-id'] ?? '',
        envelope?.type ?? record.headers['event-type'] ?? '',
        record.topic,
        record.key,
        Buffer.from(record.value),
        JSON.stringify(record.headers),
        error,
        attempts,
      ],
    );
    return 'dead_lettered';
  }

  private count(outcome: HandlingOutcome): HandlingOutcome {
    this.handledCounter.add(1, {
      'messaging.consumer.group.name': this.options.groupId,
      'kantoor.event.outcome': outcome,
    });
    return outcome;
  }
}

/** Creates a consumer and subscribes it; `stop()` it at shutdown. */
export async function subscribeHandlers(options: EventConsumerOptions): Promise<EventConsumer> {
  const consumer = new EventConsumer(options);
  await consumer.start();
  return consumer;
}

/** A group's dead letters, oldest first; unresolved only unless `includeResolved`. */
export async function listDeadLetters(
  db: Queryable,
  groupId: string,
  options: { includeResolved?: boolean } = {},
): Promise<DeadLetter[]> {
  const { rows } = await db.query<Record<string, any>>(
    `SELECT id, consumer_group, event_id, type, topic, key, error, attempts, failed_at, resolved_at
       FROM dead_letter WHERE consumer_group = $1 ${options.includeResolved ? '' : 'AND resolved_at IS NULL'}
      ORDER BY failed_at, id`,
    [groupId],
  );
  return rows.map((row) => ({
    id: row.id,
    consumerGroup: row.consumer_group,
    eventId: row.event_id,
    type: row.type,
    topic: row.topic,
    key: row.key,
    error: row.error,
    attempts: row.attempts,
    failedAt: row.failed_at,
    resolvedAt: row.resolved_at,
  }));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
