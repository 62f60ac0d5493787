import { isDomainError } from '@kantoor/errors';
import { eventTransportContract } from './contract';
import { InProcessTransport, laneOf } from './in-process-transport';
import type { EventRecord } from './transport';

eventTransportContract(
  'InProcessTransport',
  { publishAwaitsHandling: true, keepsRecords: false, sharedGroups: false, orderAcrossTopics: true },
  async ({ redeliveryBackoff }) => {
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

describe('InProcessTransport', () => {
  let transport: InProcessTransport;
  beforeEach(() => (transport = new InProcessTransport(quietly)));
  afterEach(() => transport.close());

  it('resolves publish() only once every group reading the topic handled every record of the call', async () => {
    const invoicingRelease = deferred();
    const invoicing = recordingHandler(() => invoicingRelease.promise);
    const notificationRelease = deferred();
    const notification = recordingHandler(() => notificationRelease.promise);
    const archive = recordingHandler();
    await transport.subscribe({
      groupId: 'invoicing',
      topics: [DIRECTORY, 'kantoor.archive.v1'],
      handler: invoicing.handler,
    });
    await transport.subscribe({ groupId: 'notification', topics: [DIRECTORY], handler: notification.handler });
    await transport.subscribe({ groupId: 'archive', topics: ['kantoor.intake.v1'], handler: archive.handler });

    const publishing = transport.publish([
      record(DIRECTORY, 'dossier-1', 'd1'),
      record('kantoor.archive.v1', 'dossier-2', 'a1'),
    ]);
    expect(await settled(publishing)).toBe(false);
    invoicingRelease.resolve();
    await invoicing.handledCount(2);
    expect(await settled(publishing)).toBe(false);
    notificationRelease.resolve();
    await publishing;
    expect(invoicing.handled.sort()).toEqual(['a1', 'd1']);
    expect(notification.handled).toEqual(['d1']);
    expect(archive.handled).toEqual([]);
  });

  it('resolves at once for a topic no group reads', async () => {
    await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: async () => {} });
    expect(await settled(transport.publish([record('kantoor.backup.v1', 'dossier-1', 'b1')]))).toBe(true);
    expect(await settled(transport.publish([]))).toBe(true);
  });

  it('keeps one key’s records in publish order, across topics, while its group handles other keys concurrently', async () => {
    const many = new InProcessTransport({ ...quietly, concurrency: 4 });
    let running = 0;
    let mostAtOnce = 0;
    const perKey: Record<string, string[]> = {};
    const group = recordingHandler(async (id, received) => {
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      // uneven handling times, so lanes overtake one another
      for (let i = 0; i < Number(id.split('-')[1]) % 5; i++) await new Promise((resolve) => setImmediate(resolve));
      (perKey[received.key] ??= []).push(id);
      running -= 1;
    });
    await many.subscribe({ groupId: 'invoicing', topics: [DIRECTORY, 'kantoor.archive.v1'], handler: group.handler });
    const published: Record<string, string[]> = {};
    const batches: EventRecord[][] = [[], [], []];
    for (let n = 0; n < 120; n++) {
      const key = `dossier-${n % 10}`;
      batches[n % 3].push(record(n % 2 ? DIRECTORY : 'kantoor.archive.v1', key, `e-${n}`));
    }
    for (const batch of batches)
      for (const { key, headers } of batch) (published[key] ??= []).push(headers['event-id']);
    await Promise.all(batches.map((batch) => many.publish(batch)));

    expect(group.handled).toHaveLength(120);
    expect(perKey).toEqual(published);
    expect(mostAtOnce).toBe(4);
    expect(group.handled).not.toEqual(batches.flat().map((r) => r.headers['event-id']));
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

  it('gives a failing record again after a pause; records of its key wait, other lanes go on, nothing is skipped', async () => {
    const many = new InProcessTransport({ ...quietly, concurrency: 2, redeliveryBackoff: { initialMs: 5, maxMs: 10 } });
    const [failingKey, otherKey] = ['dossier-1', 'dossier-2'];
    expect(laneOf(failingKey, 2)).not.toBe(laneOf(otherKey, 2));
    let failuresLeft = 2;
    const attempts: string[] = [];
    const invoicing = recordingHandler((id) => {
      attempts.push(id);
      if (id === 'f1' && failuresLeft-- > 0) throw new Error('database unavailable');
    });
    await many.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: invoicing.handler });
    await many.publish([
      record(DIRECTORY, failingKey, 'f1'),
      record(DIRECTORY, failingKey, 'f2'),
      record(DIRECTORY, otherKey, 'o1'),
    ]);
    expect(attempts.filter((id) => id !== 'o1')).toEqual(['f1', 'f1', 'f1', 'f2']);
    expect(invoicing.handled).toEqual(['o1', 'f1', 'f2']);
    await many.close();
  });

  it('hands every group its own copy, so a handler changing its record changes nothing for another', async () => {
    const vandal = recordingHandler((_id, received) => void (received.headers['event-id'] = 'changed'));
    const seenByReader: string[] = [];
    await transport.subscribe({ groupId: 'vandal', topics: [DIRECTORY], handler: vandal.handler });
    await transport.subscribe({
      groupId: 'reader',
      topics: [DIRECTORY],
      handler: async (received) => {
        await vandal.handledCount(1);
        seenByReader.push(received.headers['event-id']);
      },
    });
    await transport.publish([record(DIRECTORY, 'dossier-1', 'd1')]);
    expect(seenByReader).toEqual(['d1']);
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

  it('rejects publish() when the transport closes before the records were handled, after finishing the one in flight', async () => {
    const release = deferred();
    const started = deferred();
    const archive = recordingHandler(async () => {
      started.resolve();
      await release.promise;
    });
    await transport.subscribe({ groupId: 'archive', topics: ['kantoor.intake.v1'], handler: archive.handler });
    const publishing = refusalOf(
      transport.publish([
        record('kantoor.intake.v1', 'dossier-1', 'i1'),
        record('kantoor.intake.v1', 'dossier-1', 'i2'),
      ]),
    );
    await started.promise;
    const closing = transport.close();
    expect(await settled(closing)).toBe(false);
    release.resolve();
    await closing;
    expect(archive.handled).toEqual(['i1']);
    expect(await publishing).toEqual({ kind: 'unavailable', reason: 'event_transport_closed' });
  });

  it('stop() waits for the handler in flight; what its group had not handled, and what is published while it is stopped, is refused until it runs again', async () => {
    const release = deferred();
    const started = deferred();
    const archive = recordingHandler(async () => {
      started.resolve();
      await release.promise;
    });
    const subscription = await transport.subscribe({
      groupId: 'archive',
      topics: ['kantoor.intake.v1'],
      handler: archive.handler,
    });
    const publishing = refusalOf(
      transport.publish([
        record('kantoor.intake.v1', 'dossier-1', 'i1'),
        record('kantoor.intake.v1', 'dossier-1', 'i2'),
      ]),
    );
    await started.promise;
    const stopping = subscription.stop();
    expect(await settled(stopping)).toBe(false);
    release.resolve();
    await stopping;
    expect(archive.handled).toEqual(['i1']);
    expect(await publishing).toEqual({ kind: 'unavailable', reason: 'consumer_group_stopped' });
    expect(await refusalOf(transport.publish([record('kantoor.intake.v1', 'dossier-1', 'i3')]))).toEqual({
      kind: 'unavailable',
      reason: 'consumer_group_stopped',
    });

    // the relay publishes the refused rows again once the group is back
    const again = recordingHandler();
    await transport.subscribe({ groupId: 'archive', topics: ['kantoor.intake.v1'], handler: again.handler });
    await transport.publish([
      record('kantoor.intake.v1', 'dossier-1', 'i2'),
      record('kantoor.intake.v1', 'dossier-1', 'i3'),
    ]);
    expect(again.handled).toEqual(['i2', 'i3']);
  });

  it('stop() during a back-off ends the wait at once and refuses the failing record', async () => {
    const slow = new InProcessTransport({
      logger: { warn: () => {} },
      redeliveryBackoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    let attempts = 0;
    const subscription = await slow.subscribe({
      groupId: 'notification',
      topics: [DIRECTORY],
      handler: async () => {
        attempts += 1;
        throw new Error('always');
      },
    });
    const publishing = refusalOf(slow.publish([record(DIRECTORY, 'dossier-1', 'd1')]));
    while (attempts === 0) await new Promise((resolve) => setImmediate(resolve));
    const startedAt = Date.now();
    await subscription.stop();
    expect(Date.now() - startedAt).toBeLessThan(1000);
    expect(await publishing).toEqual({ kind: 'unavailable', reason: 'consumer_group_stopped' });
    await slow.close();
  });

  it('refuses a second subscription of the same group, an empty topic list, a bad concurrency, and any use after close()', async () => {
    await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: async () => {} });
    expect(
      await refusalOf(
        transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.archive.v1'], handler: async () => {} }),
      ),
    ).toEqual({
      kind: 'failed_precondition',
      reason: 'group_already_subscribed',
    });
    expect(
      await refusalOf(transport.subscribe({ groupId: 'archive', topics: [], handler: async () => {} })),
    ).toMatchObject({
      kind: 'invalid_argument',
    });
    expect(() => new InProcessTransport({ concurrency: 0 })).toThrow('positive integer');

    await transport.close();
    expect(await refusalOf(transport.publish([record(DIRECTORY, 'dossier-1', 'd1')]))).toEqual({
      kind: 'failed_precondition',
      reason: 'event_transport_closed',
    });
    expect(
      await refusalOf(transport.subscribe({ groupId: 'archive', topics: [DIRECTORY], handler: async () => {} })),
    ).toMatchObject({
      reason: 'event_transport_closed',
    });
  });
});
