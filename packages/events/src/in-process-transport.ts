/**
 * The event transport in embedded mode, where every service runs in one Node process.
 *
 * Each topic is an in-memory log; each consumer group keeps its own position per topic and handles its
 * records one at a time, in publish order across its topics (so certainly in order per key). A position
 * advances only after the handler resolved; a failing handler gets the same record again after a back-off
 * and the records behind it wait. Nothing here is durable: the outbox is the durable store, and its relay
 * publishes again after a restart whatever it had not marked published.
 *
 * A group that subscribes for the first time starts at the end of each topic: it receives what is published
 * after it subscribed. That suffices because the embedded launcher starts every service's consumers before
 * any relay runs. A group that stops and subscribes again in the same process resumes where it stopped,
 * like a Kafka group from its committed offsets. A record is dropped from the log once every group reading
 * its topic has passed it.
 */
import { failedPrecondition, invalidArgument } from '@kantoor/errors';
import type { EventRecord, EventTransport, RecordHandler, SubscribeOptions, Subscription } from './transport';

export interface InProcessTransportOptions {
  logger?: { warn(fields: object, message: string): void };
  /** wait before a failed record is handed over again, doubling per failure up to `maxMs` */
  redeliveryBackoff?: { initialMs: number; maxMs: number };
}

const consoleLogger = { warn: (fields: object, message: string) => console.warn(message, fields) };

interface TopicLog {
  /** offset of `entries[0]`; records before it were trimmed */
  firstOffset: number;
  entries: Array<{ record: EventRecord; sequence: number }>;
}

interface ConsumerGroup {
  /** next offset to handle, per topic the group reads */
  positions: Map<string, number>;
  active: InProcessSubscription | undefined;
}

interface Delivery {
  topic: string;
  offset: number;
  record: EventRecord;
}

export class InProcessTransport implements EventTransport {
  private readonly logs = new Map<string, TopicLog>();
  private readonly groups = new Map<string, ConsumerGroup>();
  private sequence = 0;
  private closed = false;

  constructor(private readonly options: InProcessTransportOptions = {}) {}

  async publish(records: EventRecord[]): Promise<void> {
    this.refuseWhenClosed();
    const topics = new Set<string>();
    for (const record of records) {
      this.log(record.topic).entries.push({ record: copyOf(record), sequence: this.sequence++ });
      topics.add(record.topic);
    }
    for (const topic of topics) this.trim(topic);
    for (const group of this.groups.values()) {
      if ([...topics].some((topic) => group.positions.has(topic))) group.active?.recordsPublished();
    }
  }

  async subscribe({ groupId, topics, handler }: SubscribeOptions): Promise<Subscription> {
    this.refuseWhenClosed();
    if (!groupId) throw invalidArgument('a subscription needs a consumer group id');
    if (topics.length === 0) throw invalidArgument(`group ${groupId} subscribes to no topic`);
    const group = this.groups.get(groupId) ?? { positions: new Map<string, number>(), active: undefined };
    if (group.active) {
      // one process, one member: sharing a group's records between two handlers here would only hide a wiring mistake
      throw failedPrecondition(`consumer group ${groupId} is already subscribed`, {
        reason: 'group_already_subscribed',
      });
    }
    this.groups.set(groupId, group);
    for (const topic of group.positions.keys()) {
      if (!topics.includes(topic)) group.positions.delete(topic);
    }
    for (const topic of topics) {
      if (!group.positions.has(topic)) group.positions.set(topic, endOffset(this.log(topic)));
    }
    const subscription = new InProcessSubscription(
      groupId,
      handler,
      () => this.nextDelivery(group),
      (delivery) => {
        group.positions.set(delivery.topic, delivery.offset + 1);
        this.trim(delivery.topic);
      },
      () => {
        group.active = undefined;
      },
      this.options,
    );
    group.active = subscription;
    return subscription;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.groups.values()].map((group) => group.active?.stop()));
    this.logs.clear();
    this.groups.clear();
  }

  /** The group's oldest unhandled record across its topics, in publish order. */
  private nextDelivery(group: ConsumerGroup): Delivery | undefined {
    let next: (Delivery & { sequence: number }) | undefined;
    for (const [topic, offset] of group.positions) {
      const entry = this.log(topic).entries[offset - this.log(topic).firstOffset];
      if (entry && (!next || entry.sequence < next.sequence)) next = { topic, offset, ...entry };
    }
    return next && { topic: next.topic, offset: next.offset, record: copyOf(next.record) };
  }

  private trim(topic: string): void {
    const log = this.log(topic);
    let passedByAll = endOffset(log);
    for (const group of this.groups.values())
      passedByAll = Math.min(passedByAll, group.positions.get(topic) ?? Infinity);
    if (passedByAll > log.firstOffset) {
      log.entries.splice(0, passedByAll - log.firstOffset);
      log.firstOffset = passedByAll;
    }
  }

  private log(topic: string): TopicLog {
    let log = this.logs.get(topic);
    if (!log) this.logs.set(topic, (log = { firstOffset: 0, entries: [] }));
    return log;
  }

  private refuseWhenClosed(): void {
    if (this.closed) throw failedPrecondition('the event transport is closed', { reason: 'event_transport_closed' });
  }
}

class InProcessSubscription implements Subscription {
  private stopping = false;
  private waitingForRecords = false;
  /** ends the current wait (for records or a back-off) early */
  private interrupt: (() => void) | undefined;
  private readonly delivering: Promise<void>;
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly groupId: string,
    private readonly handler: RecordHandler,
    private readonly nextDelivery: () => Delivery | undefined,
    private readonly acknowledge: (delivery: Delivery) => void,
    private readonly onStopped: () => void,
    private readonly options: InProcessTransportOptions,
  ) {
    // never inside subscribe() or publish(): delivery is asynchronous to both
    this.delivering = Promise.resolve().then(() => this.deliver());
  }

  recordsPublished(): void {
    if (this.waitingForRecords) this.interrupt?.();
  }

  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      this.interrupt?.();
      await this.delivering;
      this.onStopped();
    })();
    return this.stopped;
  }

  private async deliver(): Promise<void> {
    let failures = 0;
    while (!this.stopping) {
      const delivery = this.nextDelivery();
      if (!delivery) {
        this.waitingForRecords = true;
        await this.wait();
        this.waitingForRecords = false;
        continue;
      }
      try {
        await this.handler(delivery.record);
      } catch (error) {
        failures += 1;
        const { initialMs, maxMs } = this.options.redeliveryBackoff ?? { initialMs: 100, maxMs: 5000 };
        const delayMs = Math.min(initialMs * 2 ** (failures - 1), maxMs);
        const fields = { err: error, groupId: this.groupId, topic: delivery.topic, offset: delivery.offset, failures };
        (this.options.logger ?? consoleLogger).warn(
          { ...fields, redeliveryInMs: delayMs },
          'event handler failed; the record is delivered again after a pause',
        );
        await this.wait(delayMs);
        continue;
      }
      failures = 0;
      this.acknowledge(delivery);
    }
  }

  private wait(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stopping) return resolve();
      const timer = ms === undefined ? undefined : setTimeout(() => this.interrupt?.(), ms);
      this.interrupt = () => {
        clearTimeout(timer);
        this.interrupt = undefined;
        resolve();
      };
    });
  }
}

function endOffset(log: TopicLog): number {
  return log.firstOffset + log.entries.length;
}

/** Each group gets its own copy, so neither the publisher nor one handler can change what another receives. */
function copyOf(record: EventRecord): EventRecord {
  return { topic: record.topic, key: record.key, value: record.value.slice(), headers: { ...record.headers } };
}
