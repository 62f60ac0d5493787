import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { isDomainError } from '@kantoor/errors';
import { InProcessTransport } from './in-process-transport';
import { eventTransportContract } from './contract';
import { ThreadTransport, serveThreadTransport } from './thread-transport';
import type { EventRecord, EventTransport } from './transport';

// every service in a worker thread of its own: each transport the contract opens is one worker's, on one hub
eventTransportContract(
  'ThreadTransport',
  {
    publishAwaitsHandling: true,
    keepsRecords: false,
    sharedGroups: false,
    orderAcrossTopics: true,
    crashedHandler: 'publish-refused',
  },
  async ({ redeliveryBackoff }) => {
    const hub = new InProcessTransport({ logger: { warn: () => {} }, redeliveryBackoff });
    const workers = new Map<EventTransport, { port: MessagePort; served: { close(): Promise<void> } }>();
    return {
      async open() {
        const channel = new MessageChannel();
        const worker = new ThreadTransport(channel.port2);
        workers.set(worker, { port: channel.port2, served: serveThreadTransport(hub, channel.port1) });
        return worker;
      },
      // the thread died: its end of the channel is gone, and the hub has to notice by itself
      crash: async (worker) => workers.get(worker)!.port.close(),
      async dispose() {
        for (const [worker, { served }] of workers) {
          await worker.close();
          await served.close();
        }
        await hub.close();
      },
    };
  },
);

const record = (topic: string, key: string, id: string): EventRecord => ({
  topic,
  key,
  value: new TextEncoder().encode(id),
  headers: { 'event-id': id },
});

const idOf = (received: EventRecord) => new TextDecoder().decode(received.value);

/** A hub in "the main thread" and one worker's transport joined by a real MessagePort pair. */
function joined(options: ConstructorParameters<typeof InProcessTransport>[0] = {}) {
  const hub = new InProcessTransport({
    redeliveryBackoff: { initialMs: 5, maxMs: 20 },
    logger: { warn: () => undefined },
    ...options,
  });
  const channel = new MessageChannel();
  const served = serveThreadTransport(hub, channel.port1);
  const worker = new ThreadTransport(channel.port2);
  return { hub, served, worker, channel };
}

describe('events between the threads of the embedded platform', () => {
  test("a worker's publish resolves only once the hub's reading groups handled the record", async () => {
    const { hub, worker } = joined();
    const handled: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    await hub.subscribe({
      groupId: 'archive',
      topics: ['kantoor.document-intake.v1'],
      handler: async (received) => {
        await held;
        handled.push(idOf(received));
      },
    });
    let published = false;
    const publishing = worker.publish([record('kantoor.document-intake.v1', 'dossier-1', 'e1')]).then(() => {
      published = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(published).toBe(false);
    release();
    await publishing;
    expect(handled).toEqual(['e1']);
    await worker.close();
    await hub.close();
  });

  test('a group subscribed from a worker gets every record in key order, and a failed handler gets it again', async () => {
    const { hub, worker } = joined();
    const handled: string[] = [];
    let failures = 0;
    await worker.subscribe({
      groupId: 'notification',
      topics: ['kantoor.directory.v1'],
      handler: async (received) => {
        if (idOf(received) === 'e2' && failures++ === 0) throw new Error('SMTP server away');
        handled.push(idOf(received));
      },
    });
    await hub.publish([
      record('kantoor.directory.v1', 'firm-1', 'e1'),
      record('kantoor.directory.v1', 'firm-1', 'e2'),
      record('kantoor.directory.v1', 'firm-1', 'e3'),
    ]);
    expect(handled).toEqual(['e1', 'e2', 'e3']);
    expect(failures).toBe(2);
    await worker.close();
    await hub.close();
  });

  test('records arrive intact: topic, key, bytes and headers', async () => {
    const { hub, worker } = joined();
    const received: EventRecord[] = [];
    await hub.subscribe({ groupId: 'g', topics: ['t'], handler: async (got) => void received.push(got) });
    const sent = { ...record('t', 'dossier-9', 'bytes'), headers: { traceparent: '00-abc-def-01', 'event-id': 'x' } };
    await worker.publish([sent]);
    expect(received).toEqual([sent]);
    await worker.close();
    await hub.close();
  });

  test("a worker that ends takes its groups along: the hub's publishes for them fail and the rows stay", async () => {
    const { hub, worker, channel } = joined();
    const handled: string[] = [];
    await worker.subscribe({
      groupId: 'archive',
      topics: ['kantoor.document-intake.v1'],
      handler: async (received) => {
        handled.push(idOf(received));
        await new Promise(() => undefined); // still handling when the thread dies
      },
    });
    const inFlight = hub.publish([record('kantoor.document-intake.v1', 'dossier-1', 'e1')]);
    inFlight.catch(() => undefined);
    while (handled.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    channel.port2.close(); // the worker thread ended
    await expect(inFlight).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(hub.publish([record('kantoor.document-intake.v1', 'dossier-1', 'e2')])).rejects.toMatchObject({
      reason: 'consumer_group_stopped',
    });
    await hub.close();
  });

  test("the hub's refusals reach the worker as the same domain errors", async () => {
    const { hub, worker } = joined();
    await hub.subscribe({ groupId: 'taken', topics: ['t'], handler: async () => undefined });
    const refused = await worker
      .subscribe({ groupId: 'taken', topics: ['t'], handler: async () => undefined })
      .catch((error: unknown) => error);
    expect(isDomainError(refused)).toBe(true);
    expect(refused).toMatchObject({ kind: 'failed_precondition', reason: 'group_already_subscribed' });
    await hub.close();
    await expect(worker.publish([record('t', 'k', 'late')])).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'event_transport_closed',
    });
    await worker.close();
  });

  test("a worker's stop waits for its record in flight and then ends its group", async () => {
    const { hub, worker } = joined();
    const handled: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const subscription = await worker.subscribe({
      groupId: 'backup',
      topics: ['t'],
      handler: async (received) => {
        await held;
        handled.push(idOf(received));
      },
    });
    const publishing = hub.publish([record('t', 'k', 'e1')]);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const stopping = subscription.stop();
    release();
    await stopping;
    await publishing;
    expect(handled).toEqual(['e1']);
    await expect(hub.publish([record('t', 'k', 'e2')])).rejects.toMatchObject({ reason: 'consumer_group_stopped' });
    await worker.close();
    await hub.close();
  });
});
