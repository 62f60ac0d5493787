/**
 * An in-memory Kafka cluster behind the part of the kafkajs API that `KafkaTransport` uses, for the transport's
 * own tests and its run of the event transport contract. One `FakeKafkaCluster` is the brokers; each
 * `FakeKafka` made from it is one process's kafkajs client (`new Kafka(...)`), with producers, consumers and
 * admin clients.
 *
 * Like Kafka, where the transport's promises depend on it:
 * - topics exist only once created (admin `createTopics`); sending to or subscribing to another one fails
 *   as with `allowAutoTopicCreation: false`;
 * - a producer stores a copy of each message (what went over the wire) at the end of one partition, chosen by
 *   the partitioner the producer was given (the transport gives kafkajs's Java-compatible murmur2 one, so a
 *   key lands on the partition Kafka would choose); each partition is a log with offsets 0, 1, 2, ...;
 * - consumer groups: the members that `run()` share the partitions of their topics (round robin); a member
 *   joining or leaving rebalances the group, which first lets every member finish the message in hand (as
 *   kafkajs rejoins between messages), then hands each partition over at the group's committed offset, so a
 *   message handled but not committed is delivered again to the partition's next owner;
 * - a member starts a partition at the group's committed offset, or without one at the earliest message
 *   (`fromBeginning`) or the end of the log, looked up in its first fetch after `run()` resolved, in two round
 *   trips (OffsetFetch, then ListOffsets), as kafkajs does: a message sent meanwhile is before that end;
 * - `eachMessage` gets one partition's messages strictly one after the other, several partitions at once up to
 *   `partitionsConsumedConcurrently`; every fetch decodes fresh Buffers; `pause()` stops the partition after
 *   the message in hand, `seek()` refetches it from the given offset at the next fetch;
 * - committed offsets are kept per group and partition; `commitOffsets` is dropped while the consumer stops and
 *   refused once it stopped (both as in kafkajs), and refused for a member that crashed out of its group;
 * - `FakeKafka.crash()` ends a process without a shutdown: its members drop out of their groups (as after a
 *   session timeout), their handlers in flight are abandoned, its producers are gone.
 *
 * Not modelled: brokers, leaders, replication and acks (every send is stored at once, with any `acks`);
 * retention and log compaction (no message is ever deleted); timeouts (a member whose handler never returns
 * holds up a rebalance forever, where Kafka would drop it after the rebalance timeout); transactions and
 * sends that half succeed (a batch naming an unknown topic stores nothing); `eachBatch` and `autoCommit`
 * (the fake refuses a run that asks for them); kafkajs's retries, restarts and CRASH events (an
 * `eachMessage` that throws gets the same message again at the next fetch); consumer-level
 * `pause`/`resume` outside `eachMessage`'s own `pause`; instrumentation events other than GROUP_JOIN.
 */
import type {
  ConsumerRunConfig,
  ConsumerSubscribeTopics,
  EachMessagePayload,
  IHeaders,
  ITopicConfig,
  Kafka,
  KafkaMessage,
  Message,
  PartitionMetadata,
  ProducerBatch,
  ProducerConfig,
  RecordMetadata,
  TopicPartitionOffsetAndMetadata,
} from 'kafkajs';
import { Partitioners } from 'kafkajs';

/** A message as a partition holds it. */
interface StoredMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
}

const nextRoundTrip = () => new Promise<void>((resolve) => setImmediate(resolve));
const partitionName = (topic: string, partition: number) => `${topic}/${partition}`;

function unknownTopic(topic: string): Error {
  return Object.assign(new Error(`This server does not host this topic-partition (${topic})`), {
    name: 'KafkaJSProtocolError',
    type: 'UNKNOWN_TOPIC_OR_PARTITION',
  });
}

function onWire(bytes: Buffer | string | null | undefined): Buffer | null {
  if (bytes === null || bytes === undefined) return null;
  return typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes);
}

function headersOnWire(headers: IHeaders | undefined): IHeaders {
  const stored: IHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    stored[name] = Array.isArray(value) ? value.map((one) => onWire(one)!) : onWire(value)!;
  }
  return stored;
}

export class FakeKafkaCluster {
  private readonly topics = new Map<string, StoredMessage[][]>();
  private readonly groups = new Map<string, FakeGroup>();

  /** `topics`: those that exist already, with their number of partitions */
  constructor(topics: Record<string, number> = {}) {
    for (const [topic, partitions] of Object.entries(topics)) this.createTopic(topic, partitions);
  }

  /** false when the topic exists already (it keeps its partitions) */
  createTopic(topic: string, numPartitions: number): boolean {
    if (this.topics.has(topic)) return false;
    this.topics.set(
      topic,
      Array.from({ length: numPartitions }, () => []),
    );
    return true;
  }

  topicNames(): string[] {
    return [...this.topics.keys()];
  }

  partitionCount(topic: string): number {
    const partitions = this.topics.get(topic);
    if (!partitions) throw unknownTopic(topic);
    return partitions.length;
  }

  log(topic: string, partition: number): StoredMessage[] {
    const log = this.topics.get(topic)?.[partition];
    if (!log) throw unknownTopic(`${topic}/${partition}`);
    return log;
  }

  /** Stores a message at the end of a partition, as a producer's send does; answers its offset. */
  append(topic: string, partition: number, message: StoredMessage): string {
    const log = this.log(topic, partition);
    log.push(message);
    for (const group of this.groups.values()) group.wakeMembers();
    return String(log.length - 1);
  }

  /** A message written by some other client, straight onto a partition (e.g. with a repeated header). */
  write(topic: string, partition: number, message: Message): string {
    return this.append(topic, partition, {
      key: onWire(message.key),
      value: onWire(message.value),
      headers: headersOnWire(message.headers),
    });
  }

  group(groupId: string): FakeGroup {
    let group = this.groups.get(groupId);
    if (!group) this.groups.set(groupId, (group = new FakeGroup(groupId, this)));
    return group;
  }

  /** The offsets a group committed, by `topic/partition`. */
  committedOffsets(groupId: string): Record<string, string> {
    return Object.fromEntries(this.groups.get(groupId)?.committed ?? []);
  }

  /** One process's kafkajs client on this cluster. */
  client(): FakeKafka {
    return new FakeKafka(this);
  }
}

class FakeGroup {
  /** the offset of the next message to read, by `topic/partition` */
  readonly committed = new Map<string, string>();
  private readonly members: FakeConsumer[] = [];
  private rebalancing = Promise.resolve();

  constructor(
    readonly groupId: string,
    private readonly cluster: FakeKafkaCluster,
  ) {}

  has(member: FakeConsumer): boolean {
    return this.members.includes(member);
  }

  join(member: FakeConsumer): Promise<void> {
    this.members.push(member);
    return this.rebalance();
  }

  leave(member: FakeConsumer): Promise<void> {
    const index = this.members.indexOf(member);
    if (index < 0) return this.rebalancing;
    this.members.splice(index, 1);
    return this.rebalance();
  }

  wakeMembers(): void {
    for (const member of this.members) member.wake();
  }

  /** Every member lets go of its partitions at the next message boundary; then they are dealt out again. */
  private rebalance(): Promise<void> {
    this.rebalancing = this.rebalancing.then(async () => {
      const members = [...this.members];
      await Promise.all(members.map((member) => member.revoke()));
      const current = this.members.filter((member) => members.includes(member));
      const assignments = new Map(current.map((member) => [member, [] as Array<[string, number]>]));
      // kafkajs's round robin: the partitions of every topic in turn, each to the next member reading that topic
      let turn = 0;
      for (const topic of [...new Set(current.flatMap((member) => member.topics))].sort()) {
        const readers = current.filter((member) => member.topics.includes(topic));
        for (let partition = 0; partition < this.cluster.partitionCount(topic); partition++) {
          assignments.get(readers[turn++ % readers.length])!.push([topic, partition]);
        }
      }
      for (const [member, partitions] of assignments) member.assign(partitions);
    });
    return this.rebalancing;
  }
}

/** A partition a member was assigned; `position` is fixed at its first fetch. */
interface Assigned {
  topic: string;
  partition: number;
  position: number | undefined;
}

class FakeConsumer {
  readonly events = { CRASH: 'consumer.crash', GROUP_JOIN: 'consumer.group_join' } as const;
  /** what the transport did with it, in order: `connect`, `commit topic/partition@offset`, `stop`, `disconnect` */
  readonly calls: string[] = [];
  subscribed: ConsumerSubscribeTopics | undefined;
  runConfig: ConsumerRunConfig | undefined;
  topics: string[] = [];

  private running = false;
  private stopping = false;
  private crashed = false;
  private assigned = new Map<string, Assigned>();
  /** changes on every revocation, so a batch fetched before it is not handled on */
  private assignmentGeneration = 0;
  private readonly paused = new Set<string>();
  private readonly seeks = new Map<string, number>();
  private woken = false;
  /** resolves when the process crashed: a rebalance waits for nothing more from it */
  private readonly dead: Promise<void>;
  private died!: () => void;
  private wakeUp: (() => void) | undefined;
  private handling: Promise<void> | undefined;
  private fetching: Promise<void> | undefined;
  private readonly group: FakeGroup;

  constructor(
    private readonly cluster: FakeKafkaCluster,
    readonly groupId: string,
  ) {
    this.group = cluster.group(groupId);
    this.dead = new Promise<void>((resolve) => (this.died = resolve));
  }

  private readonly groupJoinListeners = new Set<
    (event: { payload: { memberAssignment: Record<string, number[]> } }) => void
  >();

  /** only GROUP_JOIN is ever emitted: once per assignment, before `run()` resolves for the first one */
  on(event: string, listener: (event: any) => void): () => void {
    if (event !== this.events.GROUP_JOIN) return () => {};
    this.groupJoinListeners.add(listener);
    return () => this.groupJoinListeners.delete(listener);
  }

  async connect(): Promise<void> {
    this.calls.push('connect');
  }

  async subscribe(subscription: ConsumerSubscribeTopics): Promise<void> {
    for (const topic of subscription.topics) {
      if (typeof topic !== 'string') throw new Error('the fake subscribes to topics by name only');
      this.cluster.partitionCount(topic);
    }
    this.subscribed = subscription;
    this.topics = subscription.topics as string[];
  }

  async run(config: ConsumerRunConfig): Promise<void> {
    if (config.eachBatch || !config.eachMessage) throw new Error('the fake runs eachMessage only');
    if (config.autoCommit !== false) throw new Error('the fake runs with autoCommit: false only');
    if (!this.subscribed) throw new Error('subscribe before run');
    this.runConfig = config;
    this.running = true;
    await this.group.join(this);
    this.fetching = this.fetchLoop();
  }

  async commitOffsets(offsets: TopicPartitionOffsetAndMetadata[]): Promise<void> {
    if (this.crashed) {
      throw Object.assign(new Error('The coordinator is not aware of this member'), {
        name: 'KafkaJSProtocolError',
        type: 'UNKNOWN_MEMBER_ID',
      });
    }
    // kafkajs drops a commit made while the runner stops, and refuses one once the consumer stopped
    if (this.stopping) return;
    if (!this.running) throw new Error('Consumer group was not initialized, consumer#run must be called first');
    await nextRoundTrip();
    for (const { topic, partition, offset } of offsets) {
      this.group.committed.set(partitionName(topic, partition), offset);
      this.calls.push(`commit ${topic}/${partition}@${offset}`);
    }
  }

  seek({ topic, partition, offset }: { topic: string; partition: number; offset: string }): void {
    if (!this.running) throw new Error('Consumer group was not initialized, consumer#run must be called first');
    this.seeks.set(partitionName(topic, partition), Number(offset));
    this.wake();
  }

  /** Finishes the messages in hand and leaves the group (without waiting for the others to rebalance). */
  async stop(): Promise<void> {
    this.calls.push('stop');
    await this.halt();
  }

  async disconnect(): Promise<void> {
    await this.halt(); // kafkajs's disconnect() stops the consumer first
    this.calls.push('disconnect');
  }

  private async halt(): Promise<void> {
    if (!this.running) return;
    this.stopping = true;
    this.running = false;
    this.wake();
    await this.fetching;
    void this.group.leave(this);
    this.stopping = false;
  }

  /** The process died: the member drops out of its group at once, whatever it was handling. */
  crash(): void {
    this.crashed = true;
    this.running = false;
    this.died();
    this.wake();
    void this.group.leave(this);
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Lets go of every partition once the messages in hand are handled. */
  revoke(): Promise<void> {
    this.assignmentGeneration += 1;
    this.assigned = new Map();
    this.wake();
    return Promise.race([this.handling ?? Promise.resolve(), this.dead]);
  }

  assign(partitions: Array<[string, number]>): void {
    this.assigned = new Map(
      partitions.map(([topic, partition]) => [
        partitionName(topic, partition),
        { topic, partition, position: undefined },
      ]),
    );
    const memberAssignment: Record<string, number[]> = {};
    for (const [topic, partition] of partitions) (memberAssignment[topic] ??= []).push(partition);
    for (const listener of this.groupJoinListeners) listener({ payload: { memberAssignment } });
    this.wake();
  }

  private async fetchLoop(): Promise<void> {
    while (this.running) {
      await nextRoundTrip();
      if (!this.running) break;
      this.woken = false;
      const generation = this.assignmentGeneration;
      await this.resolvePositions(generation);
      if (!this.running || generation !== this.assignmentGeneration) continue;
      const batches: Array<{ assigned: Assigned; messages: KafkaMessage[] }> = [];
      for (const [name, assigned] of this.assigned) {
        const seek = this.seeks.get(name);
        if (seek !== undefined) {
          assigned.position = seek;
          this.seeks.delete(name);
        }
        const log = this.cluster.log(assigned.topic, assigned.partition);
        if (this.paused.has(name) || assigned.position! >= log.length) continue;
        batches.push({ assigned, messages: fetched(log, assigned.position!) });
      }
      if (batches.length === 0) {
        if (!this.woken) await new Promise<void>((resolve) => (this.wakeUp = resolve));
        this.wakeUp = undefined;
        continue;
      }
      this.handling = this.handleBatches(batches, generation);
      await this.handling;
      this.handling = undefined;
    }
  }

  /**
   * Where a newly assigned partition starts: kafkajs asks the group's committed offset (one round trip) and,
   * without one, the partition's earliest or latest offset (a second one), in its first fetch after `run()`.
   */
  private async resolvePositions(generation: number): Promise<void> {
    const unresolved = [...this.assigned].filter(
      ([name, assigned]) => assigned.position === undefined && !this.seeks.has(name),
    );
    if (unresolved.length === 0) return;
    await nextRoundTrip();
    const committed = new Map(unresolved.map(([name]) => [name, this.group.committed.get(name)]));
    if ([...committed.values()].includes(undefined)) await nextRoundTrip();
    if (generation !== this.assignmentGeneration) return;
    for (const [name, assigned] of unresolved) {
      const offset = committed.get(name);
      const log = this.cluster.log(assigned.topic, assigned.partition);
      assigned.position = offset !== undefined ? Number(offset) : this.subscribed!.fromBeginning ? 0 : log.length;
    }
  }

  /** kafkajs's workers: up to `partitionsConsumedConcurrently` batches at once, each strictly in order. */
  private async handleBatches(batches: Array<{ assigned: Assigned; messages: KafkaMessage[] }>, generation: number) {
    const queue = [...batches];
    const worker = async () => {
      for (let batch = queue.shift(); batch; batch = queue.shift()) await this.handleBatch(batch, generation);
    };
    const workers = Math.max(1, this.runConfig!.partitionsConsumedConcurrently ?? 1);
    await Promise.all(Array.from({ length: workers }, worker));
  }

  private async handleBatch(
    { assigned, messages }: { assigned: Assigned; messages: KafkaMessage[] },
    generation: number,
  ): Promise<void> {
    const { topic, partition } = assigned;
    const name = partitionName(topic, partition);
    const payload = (message: KafkaMessage): EachMessagePayload => ({
      topic,
      partition,
      message,
      heartbeat: async () => {},
      pause: () => {
        this.paused.add(name);
        return () => {
          this.paused.delete(name);
          this.wake();
        };
      },
    });
    for (const message of messages) {
      if (!this.running || generation !== this.assignmentGeneration || this.seeks.has(name)) break;
      try {
        await this.runConfig!.eachMessage!(payload(message));
      } catch {
        break; // fetched again from this message
      }
      // kafkajs resolves the offset of every message eachMessage returned from
      assigned.position = Number(message.offset) + 1;
      if (this.paused.has(name)) break;
    }
  }
}

/** A fetch: fresh Buffers for the messages from `position` on, as kafkajs decodes them from a response. */
function fetched(log: StoredMessage[], position: number): KafkaMessage[] {
  return log.slice(position).map((stored, index) => {
    const headers: IHeaders = {};
    for (const [name, value] of Object.entries(stored.headers)) {
      headers[name] = Array.isArray(value) ? value.map((one) => onWire(one)!) : onWire(value)!;
    }
    return {
      key: onWire(stored.key),
      value: onWire(stored.value),
      headers,
      offset: String(position + index),
      timestamp: '0',
      attributes: 0,
    } as KafkaMessage;
  });
}

class FakeProducer {
  connects = 0;
  disconnected = false;
  /** the batches as the transport handed them over */
  readonly batches: ProducerBatch[] = [];
  private connected = false;
  private readonly partitioner: ReturnType<NonNullable<ProducerConfig['createPartitioner']>>;

  constructor(
    private readonly client: FakeKafka,
    readonly config: ProducerConfig | undefined,
    private readonly refuseConnection: boolean,
  ) {
    this.partitioner = (config?.createPartitioner ?? Partitioners.DefaultPartitioner)();
  }

  async connect(): Promise<void> {
    this.connects += 1;
    await new Promise((resolve) => setTimeout(resolve, 1));
    if (this.refuseConnection) throw new Error('Connection error: connect ECONNREFUSED 10.0.0.7:9092');
    this.connected = true;
  }

  async send({ topic, messages, acks }: { topic: string; messages: Message[]; acks?: number }) {
    return this.sendBatch({ acks, topicMessages: [{ topic, messages }] });
  }

  async sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    this.batches.push(batch);
    if (!this.connected || this.client.crashed) throw new Error('The producer is disconnected');
    const topicMessages = batch.topicMessages ?? [];
    for (const { topic } of topicMessages) this.client.cluster.partitionCount(topic);
    // what goes over the wire: the caller may change its buffers as soon as send() was called
    const onTheWire = topicMessages.map(({ topic, messages }) => ({
      topic,
      messages: messages.map((message) => ({
        partition: message.partition,
        key: onWire(message.key),
        value: onWire(message.value),
        headers: headersOnWire(message.headers),
      })),
    }));
    await nextRoundTrip();
    const metadata: RecordMetadata[] = [];
    for (const { topic, messages } of onTheWire) {
      const count = this.client.cluster.partitionCount(topic);
      const partitionMetadata: PartitionMetadata[] = Array.from({ length: count }, (_, partitionId) => ({
        partitionErrorCode: 0,
        partitionId,
        leader: 0,
        replicas: [0],
        isr: [0],
      }));
      for (const message of messages) {
        const partition =
          message.partition ??
          this.partitioner({ topic, partitionMetadata, message: { key: message.key, value: message.value } });
        const baseOffset = this.client.cluster.append(topic, partition, message);
        metadata.push({ topicName: topic, partition, errorCode: 0, baseOffset });
      }
    }
    return metadata;
  }

  async disconnect(): Promise<void> {
    this.connected = false;
    this.disconnected = true;
  }
}

class FakeAdmin {
  disconnected = false;
  /** the topics it was asked to create, as asked */
  readonly requested: ITopicConfig[] = [];
  constructor(private readonly cluster: FakeKafkaCluster) {}
  async connect(): Promise<void> {}
  async listTopics(): Promise<string[]> {
    return this.cluster.topicNames();
  }
  /** a group's committed offsets, `-1` where it has none */
  async fetchOffsets({ groupId, topics }: { groupId: string; topics: string[] }) {
    await nextRoundTrip();
    const committed = this.cluster.committedOffsets(groupId);
    return topics.map((topic) => ({
      topic,
      partitions: Array.from({ length: this.cluster.partitionCount(topic) }, (_, partition) => ({
        partition,
        offset: committed[partitionName(topic, partition)] ?? '-1',
        metadata: null,
      })),
    }));
  }
  /** each partition's earliest offset (low) and the offset after its last message (high) */
  async fetchTopicOffsets(topic: string) {
    await nextRoundTrip();
    return Array.from({ length: this.cluster.partitionCount(topic) }, (_, partition) => {
      const high = String(this.cluster.log(topic, partition).length);
      return { partition, offset: high, high, low: '0' };
    });
  }
  /** true when every topic was created, false when one existed already (kafkajs's answer) */
  async createTopics({ topics }: { topics: ITopicConfig[]; waitForLeaders?: boolean }): Promise<boolean> {
    this.requested.push(...topics);
    let allNew = true;
    for (const { topic, numPartitions } of topics)
      allNew = this.cluster.createTopic(topic, numPartitions ?? 1) && allNew;
    return allNew;
  }
  async disconnect(): Promise<void> {
    this.disconnected = true;
  }
}

/** One process's kafkajs client: `kafka` for `KafkaTransportOptions`. */
export class FakeKafka {
  readonly producers: FakeProducer[] = [];
  readonly consumers: FakeConsumer[] = [];
  readonly admins: FakeAdmin[] = [];
  /** producer connections to refuse, from the next one on */
  refusedConnections = 0;
  crashed = false;

  constructor(readonly cluster: FakeKafkaCluster) {}

  get kafka(): Kafka {
    return this as unknown as Kafka;
  }

  producer(config?: ProducerConfig): FakeProducer {
    const producer = new FakeProducer(this, config, this.refusedConnections-- > 0);
    this.producers.push(producer);
    return producer;
  }

  consumer({ groupId }: { groupId: string }): FakeConsumer {
    const consumer = new FakeConsumer(this.cluster, groupId);
    this.consumers.push(consumer);
    return consumer;
  }

  admin(): FakeAdmin {
    const admin = new FakeAdmin(this.cluster);
    this.admins.push(admin);
    return admin;
  }

  /** The process ends without shutting down: see the header. */
  crash(): void {
    this.crashed = true;
    for (const consumer of this.consumers) consumer.crash();
  }
}
