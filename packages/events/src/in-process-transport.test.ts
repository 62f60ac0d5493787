import { isDomainError } from '@kantoor/errors';
import { InProcessTransport } from './in-process-transport';
import type { EventRecord } from './transport';

const record = (topic: string, key: string, id: string): EventRecord => ({
  topic,
  key,
  value: new TextEncoder().encode(id),
  headers: { 'event-id': id },
});

/** A handler that writes down which event ids it handled, and lets a test wait for a number of them. */
function recordingHandler(behaviour: (id: string) => Promise<void> | void = () => {}) {
  const handled: string[] = [];
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  const handler = async (received: EventRecord) => {
    const id = received.headers['event-id'];
    await behaviour(id);
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

const quietly = { logger: { warn: () => {} }, redeliveryBackoff: { initialMs: 2, maxMs: 10 } };

describe('InProcessTransport', () => {
  let transport: InProcessTransport;
  beforeEach(() => (transport = new InProcessTransport(quietly)));
  afterEach(() => transport.close());

  it('gives every group every record, in publish order per key, each at its own pace', async () => {
    const invoicing = recordingHandler();
    const slowRelease = deferred();
    const notification = recordingHandler(() => slowRelease.promise);
    await transport.subscribe({
      groupId: 'invoicing',
      topics: ['kantoor.directory.v1', 'kantoor.archive.v1'],
      handler: invoicing.handler,
    });
    await transport.subscribe({
      groupId: 'notification',
      topics: ['kantoor.directory.v1'],
      handler: notification.handler,
    });

    await transport.publish([
      record('kantoor.directory.v1', 'dossier-1', 'd1'),
      record('kantoor.archive.v1', 'dossier-1', 'a1'),
    ]);
    await transport.publish([
      record('kantoor.directory.v1', 'dossier-2', 'd2'),
      record('kantoor.directory.v1', 'dossier-1', 'd3'),
    ]);
    await invoicing.handledCount(4);
    expect(invoicing.handled).toEqual(['d1', 'a1', 'd2', 'd3']);
    expect(notification.handled).toEqual([]);

    slowRelease.resolve();
    await notification.handledCount(3);
    expect(notification.handled).toEqual(['d1', 'd2', 'd3']);

    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'd4')]);
    await Promise.all([invoicing.handledCount(5), notification.handledCount(4)]);
    expect(invoicing.handled).toEqual(['d1', 'a1', 'd2', 'd3', 'd4']);
    expect(notification.handled).toEqual(['d1', 'd2', 'd3', 'd4']);
  });

  it('hands records over after publish() resolved, never inside it', async () => {
    const archive = recordingHandler();
    await transport.subscribe({ groupId: 'archive', topics: ['kantoor.directory.v1'], handler: archive.handler });
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'd1')]);
    expect(archive.handled).toEqual([]);
    await archive.handledCount(1);
  });

  it('gives a new group only what is published after it subscribed; a group subscribing again resumes where it stopped', async () => {
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'before')]);
    const first = recordingHandler();
    const subscription = await transport.subscribe({
      groupId: 'backup',
      topics: ['kantoor.directory.v1'],
      handler: first.handler,
    });
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'd1')]);
    await first.handledCount(1);
    await subscription.stop();

    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'while-stopped')]);
    const second = recordingHandler();
    await transport.subscribe({ groupId: 'backup', topics: ['kantoor.directory.v1'], handler: second.handler });
    await transport.publish([record('kantoor.directory.v1', 'dossier-1', 'd2')]);
    await second.handledCount(2);
    expect(first.handled).toEqual(['d1']);
    expect(second.handled).toEqual(['while-stopped', 'd2']);
  });

  it('gives a failing record again after a pause, and the records behind it wait; nothing is skipped', async () => {
    let failuresLeft = 2;
    const attempts: string[] = [];
    const invoicing = recordingHandler((id) => {
      attempts.push(id);
      if (id === 'd1' && failuresLeft-- > 0) throw new Error('database unavailable');
    });
    await transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.directory.v1'], handler: invoicing.handler });
    await transport.publish([
      record('kantoor.directory.v1', 'dossier-1', 'd1'),
      record('kantoor.directory.v1', 'dossier-2', 'd2'),
    ]);
    await invoicing.handledCount(2);
    expect(attempts).toEqual(['d1', 'd1', 'd1', 'd2']);
    expect(invoicing.handled).toEqual(['d1', 'd2']);
  });

  it('stop() waits for the handler in flight and counts its record as handled', async () => {
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
    await transport.publish([
      record('kantoor.intake.v1', 'dossier-1', 'i1'),
      record('kantoor.intake.v1', 'dossier-1', 'i2'),
    ]);
    await started.promise;

    let stopped = false;
    const stopping = subscription.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stopped).toBe(false);
    release.resolve();
    await stopping;
    expect(archive.handled).toEqual(['i1']);

    const again = recordingHandler();
    await transport.subscribe({ groupId: 'archive', topics: ['kantoor.intake.v1'], handler: again.handler });
    await again.handledCount(1);
    expect(again.handled).toEqual(['i2']);
  });

  it('stop() during a back-off ends the wait at once', async () => {
    const failing = recordingHandler(() => Promise.reject(new Error('always')));
    const slow = new InProcessTransport({
      logger: { warn: () => {} },
      redeliveryBackoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    const subscription = await slow.subscribe({
      groupId: 'notification',
      topics: ['kantoor.directory.v1'],
      handler: failing.handler,
    });
    await slow.publish([record('kantoor.directory.v1', 'dossier-1', 'd1')]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const startedAt = Date.now();
    await subscription.stop();
    expect(Date.now() - startedAt).toBeLessThan(1000);
    await slow.close();
  });

  it('refuses a second subscription of the same group, an empty topic list, and any use after close()', async () => {
    await transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.directory.v1'], handler: async () => {} });
    await expect(
      transport.subscribe({ groupId: 'invoicing', topics: ['kantoor.archive.v1'], handler: async () => {} }),
    ).rejects.toMatchObject({ kind: 'failed_precondition', reason: 'group_already_subscribed' });
    await expect(
      transport.subscribe({ groupId: 'archive', topics: [], handler: async () => {} }),
    ).rejects.toMatchObject({
      kind: 'invalid_argument',
    });

    await transport.close();
    const refusal = await transport
      .publish([record('kantoor.directory.v1', 'dossier-1', 'd1')])
      .catch((error) => error);
    expect(isDomainError(refusal) && refusal.reason).toBe('event_transport_closed');
  });
});
