/**
 * The event transport in embedded mode, where every service runs in one Node process.
 *
 * Nothing here is durable, so `publish()` resolves only once every consumer group reading a record's topic
 * has handled it: the relay marks an outbox row published only after its delivery happened, and a crash
 * or a shutdown with a backlog leaves the undelivered rows in the outbox, to be published again (the
 * consumers' inbox makes the repeat harmless). `publish()` rejects, and the rows stay, when the transport
 * closes or a reading group stops before its records were handled, or when a group that read the topic
 * in this process is stopped; it resolves at once for a topic no group reads.
 *
 * The outbox relay does not wait for one publish before the next (OutboxRelay.runPipelined): a group whose
 * handler keeps failing holds back its own lane and the batches with a record in it, not every later event.
 *
 * Constructed with `startClosed`, `publish()` waits until `open()`: the launcher opens the transport once
 * every service subscribed, so no relay publishes its old rows before their readers are there.
 *
 * Each group spreads its records over `concurrency` lanes by a hash of their key and handles the lanes in
 * parallel, each strictly in order, like Kafka partitions consumed concurrently: one dossier's events keep
 * their order (across topics too), other dossiers' events pass them. A failing handler gets the same record
 * again after a back-off and holds back only its own lane.
 */
import { failedPrecondition, invalidArgument, unavailable } from '@kantoor/errors';
import { backoffMs, pause } from './event-logger';
import type { EventRecord, EventTransport, RecordHandler, SubscribeOptions, Subscription } from './transport';

export interface InProcessTransportOptions {
  logger?: { warn(fields: object, message: string): void };
  /** wait before a failed record is handed over again, doubling per failure up to `maxMs` */
  redeliveryBackoff?: { initialMs: number; maxMs: number };
  /** lanes per consumer group, i.e. records it handles at once (of different keys); default 8 */
  concurrency?: number;
  /** hold every `publish()` until `open()` is called */
  startClosed?: boolean;
}

const consoleLogger = { warn: (fields: object, message: string) => console.warn(message, fields) };

/** One `publish()` call waiting for its records to be handled by every reading group. */
interface PendingPublish {
  remaining: number;
  resolve(): void;
  reject(error: unknown): void;
}

interface Delivery {
  record: EventRecord;
  publish: PendingPublish;
}

interface ConsumerGroup {
  /** the topics of its latest subscription; they stay claimed while it is stopped */
  topics: Set<string>;
  active: InProcessSubscription | undefined;
}

export class InProcessTransport implements EventTransport {
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly concurrency: number;
  private gate: { opened: Promise<void>; open(): void; fail(error: unknown): void } | undefined;
  private closed = false;

  constructor(private readonly options: InProcessTransportOptions = {}) {
    this.concurrency = options.concurrency ?? 8;
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1) {
      throw invalidArgument(`in-process transport concurrency must be a positive integer, got ${options.concurrency}`);
    }
    if (options.startClosed) {
      let open!: () => void;
      let fail!: (error: unknown) => void;
      const opened = new Promise<void>((resolve, reject) => ((open = resolve), (fail = reject)));
      // nobody may be waiting when close() fails the gate
      opened.catch(() => undefined);
      this.gate = { opened, open, fail };
    }
  }

  /** Lets publishing begin; publishes waiting for it go to the groups subscribed by now. */
  open(): void {
    this.refuseWhenClosed();
    this.gate?.open();
    this.gate = undefined;
  }

  async publish(records: EventRecord[]): Promise<void> {
    this.refuseWhenClosed();
    if (this.gate) await this.gate.opened;
    const deliveries: Array<{ subscription: InProcessSubscription; record: EventRecord }> = [];
    for (const published of records) {
      // one snapshot, so a publisher changing its record afterwards changes nothing that is delivered
      const record = copyOf(published);
      for (const [groupId, group] of this.groups) {
        if (!group.topics.has(record.topic)) continue;
        if (!group.active || group.active.stopping) {
          // resolving would let the relay mark the rows published though this group never saw them
          throw unavailable(`consumer group ${groupId} is stopped; the records wait until it runs again`, {
            reason: 'consumer_group_stopped',
          });
        }
        deliveries.push({ subscription: group.active, record });
      }
    }
    if (deliveries.length === 0) return;
    await new Promise<void>((resolve, reject) => {
      const publish = { remaining: deliveries.length, resolve, reject };
      for (const { subscription, record } of deliveries) subscription.enqueue({ record, publish });
    });
  }

  async subscribe({ groupId, topics, handler }: SubscribeOptions): Promise<Subscription> {
    this.refuseWhenClosed();
    if (!groupId) throw invalidArgument('a subscription needs a consumer group id');
    if (topics.length === 0) throw invalidArgument(`group ${groupId} subscribes to no topic`);
    const group = this.groups.get(groupId) ?? { topics: new Set<string>(), active: undefined };
    if (group.active) {
      // one process, one member: sharing a group's records between two handlers here would only hide a wiring mistake
      throw failedPrecondition(`consumer group ${groupId} is already subscribed`, {
        reason: 'group_already_subscribed',
      });
    }
    group.topics = new Set(topics);
    const subscription = new InProcessSubscription(groupId, handler, this.concurrency, this.options, () => {
      group.active = undefined;
    });
    group.active = subscription;
    this.groups.set(groupId, group);
    return subscription;
  }

  /** Stops every subscription (waiting for the handlers in flight); publishes not delivered by then reject. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closedError = unavailable('the event transport closed before the records were handled', {
      reason: 'event_transport_closed',
    });
    this.gate?.fail(closedError);
    await Promise.all([...this.groups.values()].map((group) => group.active?.halt(closedError)));
    this.groups.clear();
  }

  private refuseWhenClosed(): void {
    if (this.closed) throw failedPrecondition('the event transport is closed', { reason: 'event_transport_closed' });
  }
}

interface Lane {
  queue: Delivery[];
  /** ends the lane's wait for records */
  wake: (() => void) | undefined;
}

class InProcessSubscription implements Subscription {
  stopping = false;
  private readonly lanes: Lane[];
  private readonly running: Promise<void>[];
  private readonly interruptBackoff = new AbortController();
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly groupId: string,
    private readonly handler: RecordHandler,
    concurrency: number,
    private readonly options: InProcessTransportOptions,
    private readonly onStopped: () => void,
  ) {
    this.lanes = Array.from({ length: concurrency }, () => ({ queue: [], wake: undefined }));
    // never inside subscribe() or publish(): delivery is asynchronous to both
    this.running = this.lanes.map((lane) => Promise.resolve().then(() => this.run(lane)));
  }

  enqueue(delivery: Delivery): void {
    const lane = this.lanes[laneOf(delivery.record.key, this.lanes.length)];
    lane.queue.push(delivery);
    lane.wake?.();
  }

  stop(): Promise<void> {
    return this.halt(
      unavailable(`consumer group ${this.groupId} stopped before it handled the records`, {
        reason: 'consumer_group_stopped',
      }),
    );
  }

  /** Waits for the handlers in flight, then fails the publishes of every record not handled. */
  halt(unhandled: unknown): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.interruptBackoff.abort();
      for (const lane of this.lanes) lane.wake?.();
      await Promise.all(this.running);
      for (const lane of this.lanes) for (const { publish } of lane.queue.splice(0)) publish.reject(unhandled);
      this.onStopped();
    })();
    return this.stopped;
  }

  private async run(lane: Lane): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const delivery = lane.queue[0];
      if (!delivery) {
        await new Promise<void>((resolve) => (lane.wake = resolve));
        lane.wake = undefined;
        continue;
      }
      try {
        // a fresh copy per attempt: a failed attempt may have changed the one it was given
        await this.handler(copyOf(delivery.record));
      } catch (error) {
        failures += 1;
        const { initialMs, maxMs } = this.options.redeliveryBackoff ?? { initialMs: 100, maxMs: 5000 };
        const redeliveryInMs = backoffMs(failures, initialMs, maxMs);
        const { topic, key } = delivery.record;
        (this.options.logger ?? consoleLogger).warn(
          { err: error, groupId: this.groupId, topic, key, failures, redeliveryInMs },
          'event handler failed; the record is delivered again after a pause',
        );
        await pause(redeliveryInMs, this.interruptBackoff.signal);
        continue;
      }
      failures = 0;
      lane.queue.shift();
      if (--delivery.publish.remaining === 0) delivery.publish.resolve();
    }
  }
}

/** The lane of a key (FNV-1a): the same key always lands in the same lane, so its records stay in order. */
export function laneOf(key: string, lanes: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % lanes;
}

function copyOf(record: EventRecord): EventRecord {
  return { topic: record.topic, key: record.key, value: record.value.slice(), headers: { ...record.headers } };
}
