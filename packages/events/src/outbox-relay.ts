/**
 * The outbox relay: publishes the events that services wrote into their outbox, in the order they were
 * written, and marks them published. Delivery is at least once: a crash between publishing and marking
 * publishes those rows again after the restart, which the consumers' inbox makes harmless.
 *
 * Several relays on one PostgreSQL database (the replicas of a service): one of them publishes at a time (one
 * per schema, when services share a database with a schema each).
 * Each batch runs in a transaction that first takes `pg_try_advisory_xact_lock`; a relay that does not get
 * it waits for its next poll, and the lock is released when the batch commits, so another replica takes
 * over within one poll interval of a crash. Claiming disjoint rows with `FOR UPDATE SKIP LOCKED` alone would
 * let two relays publish one dossier's events out of order (the second skips the first's locked rows and
 * publishes later ones of the same key), and locking per key needs one advisory lock per key per batch,
 * which fills the lock table on a large backlog. One publisher suffices: a batch is one query, one publish
 * and one update, thousands of events per second, far more than the services write.
 *
 * Rows that a writer's transaction inserted but had not committed yet are invisible to a batch and published
 * by a later one; events of one key keep their order as long as their writers were serialised (they are:
 * a change to a dossier locks or updates its row before appending its event).
 */
import { metrics } from '@opentelemetry/api';
import type { Database, Queryable } from '@kantoor/database';
import { invalidArgument } from '@kantoor/errors';
import { backoffMs, consoleEventLogger, pause, type EventLogger } from './event-logger';
import type { EventRecord, EventTransport } from './transport';

export interface OutboxRelayOptions {
  db: Database;
  transport: EventTransport;
  logger?: EventLogger;
  /** most rows published per batch; default 500 */
  batchSize?: number;
  /** wait between polls while the outbox is empty; `wake()` ends it early. Default 200 ms */
  pollIntervalMs?: number;
  /** wait after a failed publish, doubling per consecutive failure. Default 500 ms up to 30 s */
  publishBackoff?: { initialMs: number; maxMs: number };
  /** how long published rows stay in the outbox (for inspection); default 7 days */
  retentionMs?: number;
  /** how often published rows past the retention are deleted; default hourly */
  pruneIntervalMs?: number;
  /**
   * how long the record that a consumer handled an event (`inbox`) is kept; default 30 days. It only has to
   * outlive any redelivery of that event, so longer than the transport keeps events (Kafka: the topics' retention).
   */
  handledRetentionMs?: number;
}

/** What one batch did: how many rows it published, or that another relay holds the outbox. */
export type BatchOutcome = { published: number } | { busy: true };

interface OutboxRow {
  id: string;
  /** the row's place in the outbox (bigint as text) */
  position: string;
  topic: string;
  key: string;
  payload: Uint8Array;
  headers: Record<string, string>;
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** embedded: batches published and not yet handled by every consumer group, at the most */
const MAX_BATCHES_IN_FLIGHT = 8;

export class OutboxRelay {
  private readonly db: Database;
  private readonly transport: EventTransport;
  private readonly logger: EventLogger;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly publishBackoff: { initialMs: number; maxMs: number };
  private readonly retentionMs: number;
  private readonly pruneIntervalMs: number;
  private readonly handledRetentionMs: number;
  private readonly publishedCounter = metrics
    .getMeter('@kantoor/events')
    .createCounter('kantoor.events.published', { description: 'events the outbox relay published' });

  private running: Promise<void> | undefined;
  private stopping: AbortController | undefined;
  /** set by wake(): rows may have been committed since the last batch looked */
  private woken = false;
  private endIdle: (() => void) | undefined;
  private lastPrunedAt = 0;

  constructor(options: OutboxRelayOptions) {
    this.db = options.db;
    this.transport = options.transport;
    this.logger = options.logger ?? consoleEventLogger;
    this.batchSize = options.batchSize ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.publishBackoff = options.publishBackoff ?? { initialMs: 500, maxMs: 30_000 };
    this.retentionMs = options.retentionMs ?? 7 * DAY_MS;
    this.pruneIntervalMs = options.pruneIntervalMs ?? 60 * 60 * 1000;
    this.handledRetentionMs = options.handledRetentionMs ?? 30 * DAY_MS;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) {
      throw invalidArgument(`outbox relay batch size must be a positive integer, got ${this.batchSize}`);
    }
  }

  start(): void {
    if (this.running) return;
    const stopping = (this.stopping = new AbortController());
    this.running = this.run(stopping.signal);
  }

  /** Stops polling and waits for the batch in flight to be published and marked. */
  async stop(): Promise<void> {
    this.stopping?.abort();
    this.endIdle?.();
    await this.running;
    this.running = undefined;
  }

  /** Publishes without waiting for the next poll; call it after a transaction that appended events committed. */
  wake(): void {
    this.woken = true;
    this.endIdle?.();
  }

  /**
   * Publishes the oldest unpublished rows, at most one batch, and marks them published. A failed publish
   * leaves them unpublished, counts the attempt and throws.
   */
  async relayBatch(): Promise<BatchOutcome> {
    let claimed: OutboxRow[] = [];
    try {
      if (this.db.dialect === 'pglite') {
        // One process owns a PGlite database, so there is one relay; a transaction around the publish would
        // block every other query of the service for its duration.
        claimed = await this.claim(this.db);
        await this.publishAndMark(this.db, claimed);
        return { published: claimed.length };
      }
      return await this.db.transaction(async (tx) => {
        const { rows } = await tx.query<{ active: boolean }>(
          // per schema: services that share one database, each in a schema of its own, publish side by side
          `SELECT pg_try_advisory_xact_lock(hashtext('kantoor.outbox_relay.' || current_schema())) AS active`,
        );
        if (!rows[0].active) return { busy: true as const };
        claimed = await this.claim(tx);
        await this.publishAndMark(tx, claimed);
        return { published: claimed.length };
      });
    } catch (error) {
      if (claimed.length > 0) await this.recordFailedAttempt(claimed, error);
      throw error;
    }
  }

  /** Deletes published rows older than the retention; returns how many. */
  async prunePublished(): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`,
      [this.retentionMs / 1000],
    );
    return rowCount;
  }

  /**
   * Deletes the records of events this database's consumers handled longer ago than `handledRetentionMs`:
   * without it the inbox grows by every event every consumer group ever handled. Returns how many.
   */
  async pruneHandled(): Promise<number> {
    const { rowCount } = await this.db.query(`DELETE FROM inbox WHERE handled_at < now() - make_interval(secs => $1)`, [
      this.handledRetentionMs / 1000,
    ]);
    return rowCount;
  }

  private async run(signal: AbortSignal): Promise<void> {
    if (this.db.dialect === 'pglite') return this.runPipelined(signal);
    let failures = 0;
    while (!signal.aborted) {
      await this.pruneWhenDue();
      this.woken = false;
      let outcome: BatchOutcome;
      try {
        outcome = await this.relayBatch();
        failures = 0;
      } catch (error) {
        failures += 1;
        await this.backOffAfterFailure(error, failures, signal);
        continue;
      }
      // A full batch means more is waiting; otherwise the outbox was empty when the batch looked, unless a
      // commit woke the relay meanwhile.
      const drained = 'busy' in outcome || outcome.published < this.batchSize;
      if (drained && !this.woken) await this.idle(signal);
    }
  }

  /**
   * Embedded mode (PGlite, one relay in the process, delivery in-process): a publish resolves only once every
   * consumer group handled its records, so a batch waiting for one group's failing handler (retried for
   * minutes) would hold back every later event of the service, for every group. Here later batches are
   * published while earlier ones wait, up to MAX_BATCHES_IN_FLIGHT, and each batch is marked published when
   * it was handled; the transport keeps each key's records in order across batches. A failed publish (a group
   * stopped, the transport closed) ends the pipeline: once every batch in flight settled, the relay starts
   * again from the oldest row still unpublished, after the usual back-off.
   */
  private async runPipelined(signal: AbortSignal): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    // the last row claimed while batches are in flight; the next batch starts after it
    let claimedUpTo: string | undefined;
    let failures = 0;
    let failed: { error: unknown } | undefined;
    try {
      while (!signal.aborted) {
        await this.pruneWhenDue();
        if (failed) {
          await Promise.allSettled(inFlight);
          failures += 1;
          const { error } = failed;
          failed = undefined;
          claimedUpTo = undefined;
          await this.backOffAfterFailure(error, failures, signal);
          continue;
        }
        if (inFlight.size >= MAX_BATCHES_IN_FLIGHT) {
          await Promise.race(inFlight);
          continue;
        }
        // nothing in flight: look from the start again, so no row is passed over
        if (inFlight.size === 0) claimedUpTo = undefined;
        this.woken = false;
        let rows: OutboxRow[];
        try {
          rows = await this.claim(this.db, claimedUpTo);
        } catch (error) {
          failed = { error };
          continue;
        }
        if (rows.length > 0) {
          claimedUpTo = rows[rows.length - 1].position;
          const publishing: Promise<void> = this.publishAndMark(this.db, rows)
            .then(
              () => void (failures = 0),
              async (error) => {
                failed ??= { error };
                await this.recordFailedAttempt(rows, error);
              },
            )
            .finally(() => inFlight.delete(publishing));
          inFlight.add(publishing);
        }
        if (rows.length < this.batchSize && !this.woken) await this.idle(signal);
      }
    } finally {
      await Promise.allSettled(inFlight);
    }
  }

  /** Logs a failed publish (an error from the fifth in a row) and waits its back-off. */
  private async backOffAfterFailure(error: unknown, failures: number, signal: AbortSignal): Promise<void> {
    const retryInMs = backoffMs(failures, this.publishBackoff.initialMs, this.publishBackoff.maxMs);
    this.logger[failures >= 5 ? 'error' : 'warn'](
      { err: error, failures, retryInMs },
      'publishing outbox events failed; they stay in the outbox and are published again',
    );
    await pause(retryInMs, signal);
  }

  private idle(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.endIdle?.(), this.pollIntervalMs);
      this.endIdle = () => {
        clearTimeout(timer);
        this.endIdle = undefined;
        resolve();
      };
      if (signal.aborted || this.woken) this.endIdle();
    });
  }

  /** the oldest unpublished rows (after `afterPosition`, when given) */
  private async claim(q: Queryable, afterPosition?: string): Promise<OutboxRow[]> {
    const { rows } = await q.query<OutboxRow>(
      // ordered by the column, not by the text alias (which would put 10 before 2)
      `SELECT id, position::text AS position, topic, key, payload, headers FROM outbox
        WHERE published_at IS NULL AND ($2::bigint IS NULL OR outbox.position > $2::bigint)
        ORDER BY outbox.position LIMIT $1`,
      [this.batchSize, afterPosition ?? null],
    );
    return rows;
  }

  private async publishAndMark(q: Queryable, rows: OutboxRow[]): Promise<void> {
    if (rows.length === 0) return;
    const records: EventRecord[] = rows.map((row) => ({
      topic: row.topic,
      key: row.key,
      value: row.payload,
      headers: row.headers,
    }));
    await this.transport.publish(records);
    await q.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::uuid[])', [rows.map((row) => row.id)]);
    this.publishedCounter.add(rows.length);
  }

  private async recordFailedAttempt(rows: OutboxRow[], error: unknown): Promise<void> {
    try {
      await this.db.query(
        'UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = ANY($1::uuid[]) AND published_at IS NULL',
        [rows.map((row) => row.id), String(error instanceof Error ? error.message : error)],
      );
    } catch (recordingError) {
      this.logger.warn({ err: recordingError }, 'recording a failed outbox publish attempt failed');
    }
  }

  private async pruneWhenDue(): Promise<void> {
    if (Date.now() - this.lastPrunedAt < this.pruneIntervalMs) return;
    this.lastPrunedAt = Date.now();
    try {
      const pruned = await this.prunePublished();
      if (pruned > 0) this.logger.info({ pruned }, 'pruned published outbox events past their retention');
      const forgotten = await this.pruneHandled();
      if (forgotten > 0) this.logger.info({ forgotten }, 'pruned records of handled events past their retention');
    } catch (error) {
      this.logger.warn({ err: error }, 'pruning the outbox failed; retried at the next interval');
    }
  }
}
