import { isDomainError } from '@kantoor/errors';
import { eventTransportContract } from './contract';
import { InProcessTransport, laneOf } from './in-process-transport';
import type { EventRecord } from './transport';

eventTransportContract(
  'InProcessTransport',
  { publishAwaitsHandling: true, keepsRecords: false, sharedGroups: false, orderAcrossTopics: true },
  async ({ redeliveryBackoff }) => {
    // several lanes, as in production (8), or a failing record would hold back every key
    const transport = new InProcessTransport({ logger: { warn: () => {} }, redeliveryBackoff, concurrency: 4 });
    return { open: async () => transport, dispose: () => transport.close() };
  },
);

const record = (topic: string, key: string, id: string): EventRecord => ({
  topic,
  key,
  value: new TextEncoder().encode(id),
  headers: { 'event-id': id },
});

/** A handler that writes down which event ids it handled, and lets a test wait for a number of them. */
function recordingHandler(behaviour: (id: string, received: EventRecord) => Promise<void> | void = () => {}) {
  const handled: string[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const handler = async (received: EventRecord) => {
    const id = received.headers['event-id'];
    await behaviour(id, received);
    handled.push(id);
    for (const waiter of waiters.filter((w) => handled.length >= w.count)) waiter.resolve();
  };
  const handledCount = (count: number) =>
    new Promise<void>((resolve) => (handled.length >= count ? resolve() : waiters.push({ count, resolve })));
  return { handled, handler, handledCount };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Whether a promise settled by now, after letting every pending microtask and I/O callback run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

const refusalOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error) => (isDomainError(error) ? { kind: error.kind, reason: error.reason } : error),
  );

const quietly = { logger: { warn: () => {} }, redeliveryBackoff: { initialMs: 2, maxMs: 10 } };
const DIRECTORY = 'kantoor.directory.v1';

/** What only the in-process transport does: lanes, their concurrency, and the gate of `startClosed`. */
describe('InProcessTransport', () => {
  it('handles up to `concurrency` records of different keys at once', async () => {
    const many = new InProcessTransport({ ...quietly, concurrency: 4 });
    let running = 0;
    let mostAtOnce = 0;
    await many.subscribe({
      groupId: 'invoicing',
      topics: [DIRECTORY],
      handler: async () => {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise((resolve) => setTimeout(resolve, 2));
        running -= 1;
      },
    });
    await many.publish(Array.from({ length: 40 }, (_, n) => record(DIRECTORY, `dossier-${n % 10}`, `e-${n}`)));
    expect(mostAtOnce).toBe(4);
    await many.close();
  });

  it('lets other keys pass a slow key: only the records sharing its lane wait behind it', async () => {
    const lanes = 4;
    const many = new InProcessTransport({ ...quietly, concurrency: lanes });
    const slowRelease = deferred();
    const group = recordingHandler((id) => (id === 'slow' ? slowRelease.promise : undefined));
    await many.subscribe({ groupId: 'notification', topics: [DIRECTORY], handler: group.handler });
    const others = Array.from({ length: 12 }, (_, n) => `dossier-${n + 2}`);
    const besideSlow = others.filter((key) => laneOf(key, lanes) !== laneOf('dossier-1', lanes));
    const behindSlow = others.filter((key) => laneOf(key, lanes) === laneOf('dossier-1', lanes));
    expect(besideSlow.length).toBeGreaterThan(0);
    expect(behindSlow.length).toBeGreaterThan(0);

    const publishing = many.publish([
      record(DIRECTORY, 'dossier-1', 'slow'),
      ...others.map((key) => record(DIRECTORY, key, key)),
    ]);
    await group.handledCount(besideSlow.length);
    expect(await settled(publishing)).toBe(false);
    expect(group.handled.sort()).toEqual(besideSlow.sort());

    slowRelease.resolve();
    await publishing;
    expect(group.handled.slice(besideSlow.length)).toEqual(['slow', ...behindSlow]);
    await many.close();
  });

  describe('when started closed', () => {
    it('holds publishes until open(), then delivers them to every group subscribed by then', async () => {
      const gated = new InProcessTransport({ ...quietly, startClosed: true });
      const invoicing = recordingHandler();
      await gated.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: invoicing.handler });
      const publishing = gated.publish([record(DIRECTORY, 'dossier-1', 'old-row')]);
      expect(await settled(publishing)).toBe(false);
      expect(invoicing.handled).toEqual([]);

      // a service started after the relay of another already tried to publish
      const notification = recordingHandler();
      await gated.subscribe({ groupId: 'notification', topics: [DIRECTORY], handler: notification.handler });
      gated.open();
      await publishing;
      expect(invoicing.handled).toEqual(['old-row']);
      expect(notification.handled).toEqual(['old-row']);
      await gated.close();
    });

    it('rejects the held publishes when it closes without having opened', async () => {
      const gated = new InProcessTransport({ ...quietly, startClosed: true });
      await gated.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: async () => {} });
      const publishing = refusalOf(gated.publish([record(DIRECTORY, 'dossier-1', 'd1')]));
      await gated.close();
      expect(await publishing).toEqual({ kind: 'unavailable', reason: 'event_transport_closed' });
      expect(() => gated.open()).toThrow('closed');
    });
  });

  it('refuses a concurrency that is not a positive integer', () => {
    expect(() => new InProcessTransport({ concurrency: 0 })).toThrow('positive integer');
    expect(() => new InProcessTransport({ concurrency: 1.5 })).toThrow('positive integer');
  });
});
