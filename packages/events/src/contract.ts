import { isDomainError } from '@kantoor/errors';
import type { EventRecord, EventTransport, RecordHandler, Subscription } from './transport';

/**
 * What an adapter does where the port leaves it a choice. The suite checks the variant an adapter names, and
 * the test titles say which one runs.
 */
export interface EventTransportCapabilities {
  /**
   * true: `publish()` resolves only once every group reading the records handled them (nothing is stored,
   * so the publisher keeps the records until then). false: it resolves once they are stored (Kafka).
   */
  publishAwaitsHandling: boolean;
  /**
   * Records are kept for groups that are not subscribed (Kafka): a group that subscribes again resumes after
   * its last acknowledged record, a new group starts where `newGroupStartsAt` says, the transport's own setting
   * being `newGroupStartsAt` here. false (in-process): a group gets only what is published while it is
   * subscribed, and a publish its stopped group would miss is refused, so the publisher keeps the records.
   */
  keepsRecords: false | { newGroupStartsAt: 'earliest' | 'latest' };
  /** several subscriptions of one group share its records (Kafka); otherwise a second one is refused */
  sharedGroups: boolean;
  /** one key's records keep their order across topics (in-process lanes), not only within each topic (Kafka) */
  orderAcrossTopics: boolean;
  /**
   * Where one process can crash while others go on: whether a record its handler had not finished is
   * delivered again to the group (Kafka) or fails its publish (a worker thread of the embedded platform).
   * Left out where the transport lives and dies with every group it serves (in-process).
   */
  crashedHandler?: 'redelivered' | 'publish-refused';
}

export interface EventTransportSetup {
  /** the topics the suite uses: a transport that needs them created creates them */
  topics: string[];
  /** the transport's wait before it delivers a failed record again */
  redeliveryBackoff: { initialMs: number; maxMs: number };
}

/** One broker or hub for one test, and the processes that use it. */
export interface EventTransportAdapter {
  /**
   * The transport of one more process, on the broker or hub of this adapter. An adapter whose transport is
   * the whole platform in one process (in-process) answers the same transport every time.
   */
  open(): Promise<EventTransport>;
  /** Ends the process of `transport` without a shutdown; needed with `crashedHandler`. */
  crash?(transport: EventTransport): Promise<void>;
  /** closes every transport it opened */
  dispose(): Promise<void>;
}

const DIRECTORY = 'kantoor.directory.v1';
const INVOICING = 'kantoor.invoicing.v1';
const ARCHIVE = 'kantoor.archive.v1';
/** a topic no group of the suite reads */
const BACKUP = 'kantoor.backup.v1';

/** long enough for a delivery that should not happen to have happened */
const QUIET_MS = 40;

const pauseFor = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const idOf = (record: EventRecord) => record.headers['event-id'];
const record = (topic: string, key: string, id: string): EventRecord => ({
  topic,
  key,
  value: new TextEncoder().encode(id),
  headers: { 'event-id': id },
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

async function eventually(check: () => boolean, what: () => string, timeoutMs = 5000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); await pauseFor(2)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
  }
}

/** Whether the promise settles within `ms`. */
function settlesWithin(promise: Promise<unknown>, ms = 50): Promise<boolean> {
  return new Promise((answer) => {
    const timer = setTimeout(() => answer(false), ms);
    const settled = () => {
      clearTimeout(timer);
      answer(true);
    };
    promise.then(settled, settled);
  });
}

/** 'resolved', or the kind and reason of the domain error it was refused with (anything else: the error). */
function outcome(promise: Promise<unknown>): Promise<'resolved' | { kind: string; reason?: string } | unknown> {
  return promise.then(
    () => 'resolved',
    (error: unknown) => (isDomainError(error) ? { kind: error.kind, reason: error.reason } : error),
  );
}

/** A handler that writes down what it was given and handled, and lets a test wait for a number of records. */
function reader(behaviour: (record: EventRecord) => Promise<void> | void = () => {}) {
  const handled: EventRecord[] = [];
  const attempts: string[] = [];
  const handler: RecordHandler = async (received) => {
    attempts.push(idOf(received));
    await behaviour(received);
    handled.push(received);
  };
  const ids = () => handled.map(idOf);
  const until = (count: number) =>
    eventually(
      () => handled.length >= count,
      () => `${count} handled records; handled ${JSON.stringify(ids())}`,
    );
  return { handler, handled, attempts, ids, until };
}

/** A fresh reader subscribed as `groupId`: a group coming back, or the same group in another process. */
async function readerSubscribed(
  transport: EventTransport,
  groupId: string,
  topics: string[],
  newGroupStartsAt?: 'earliest' | 'latest',
) {
  const again = reader();
  await transport.subscribe({ groupId, topics, newGroupStartsAt, handler: again.handler });
  return again;
}

/**
 * The behaviour every EventTransport adapter must show, as one jest suite: what the outbox relay, the event
 * consumers and the services rely on. `makeAdapter` gives a fresh broker or hub for each test.
 */
export function eventTransportContract(
  name: string,
  capabilities: EventTransportCapabilities,
  makeAdapter: (setup: EventTransportSetup) => Promise<EventTransportAdapter>,
): void {
  const { keepsRecords, crashedHandler } = capabilities;

  describe(`${name} (event transport contract)`, () => {
    const adapters: EventTransportAdapter[] = [];
    const gates: Array<() => void> = [];
    let adapter: EventTransportAdapter;

    async function fresh(setup: Partial<EventTransportSetup> = {}): Promise<EventTransportAdapter> {
      const made = await makeAdapter({
        topics: [DIRECTORY, INVOICING, ARCHIVE, BACKUP],
        redeliveryBackoff: { initialMs: 2, maxMs: 10 },
        ...setup,
      });
      adapters.push(made);
      return made;
    }

    /** A handler's wait that the test ends; ended after each test anyway, so that every transport can close. */
    function gate() {
      const { promise, resolve } = deferred();
      gates.push(resolve);
      return { promise, open: resolve };
    }

    /** A reader whose handler holds each record until the test releases it; `started` once it holds one. */
    function heldReader() {
      const held = gate();
      const started = deferred();
      const holding = reader(async () => {
        started.resolve();
        await held.promise;
      });
      return { ...holding, started: started.promise, release: held.open };
    }

    /**
     * Group `archive` holds the first of two records of one key in its handler while `end` (a stop() or close())
     * runs: `end` waits for it, a second `end` is harmless, and the second record does not reach the handler.
     * Answers what became of the publish of the two.
     */
    async function endWhileHandling(
      transport: EventTransport,
      ids: [string, string],
      end: (subscription: Subscription) => Promise<void>,
    ): Promise<unknown> {
      const archive = heldReader();
      const subscription = await transport.subscribe({
        groupId: 'archive',
        topics: [ARCHIVE],
        handler: archive.handler,
      });
      const publishing = outcome(transport.publish(ids.map((id) => record(ARCHIVE, 'dossier-1', id))));
      await archive.started;
      const ending = end(subscription);
      expect(await settlesWithin(ending)).toBe(false);
      archive.release();
      await ending;
      await end(subscription);
      await pauseFor(QUIET_MS);
      expect(archive.attempts).toEqual([ids[0]]);
      expect(archive.ids()).toEqual([ids[0]]);
      return publishing;
    }

    beforeEach(async () => {
      adapter = await fresh();
    });
    afterEach(async () => {
      for (const open of gates.splice(0)) open();
      for (const used of adapters.splice(0)) await used.dispose();
    });

    test('delivers each record once to every group subscribed to its topic, with its topic, key, bytes and headers intact', async () => {
      const transport = await adapter.open();
      const invoicing = reader();
      const notification = reader();
      const archive = reader();
      await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY, ARCHIVE], handler: invoicing.handler });
      await transport.subscribe({ groupId: 'notification', topics: [DIRECTORY], handler: notification.handler });
      await transport.subscribe({ groupId: 'archive', topics: [INVOICING], handler: archive.handler });

      // an outbox row's bytes are often a view into a larger buffer (the database driver's)
      const row = Uint8Array.from([9, 9, 9, 0, 1, 128, 255, 10, 13, 0, 9, 9]);
      const headers = {
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        tracestate: 'kantoor=t61rcWkgMzE,other=x',
        'event-id': 'e1',
        'event-type': 'kantoor.directory.v1.FirmRegistered',
        'x-note': 'één',
      };
      await transport.publish([
        { topic: DIRECTORY, key: 'dossier-1', value: row.subarray(3, 10), headers },
        record(ARCHIVE, 'dossier-2', 'e2'),
      ]);
      await invoicing.until(2);
      await notification.until(1);
      await pauseFor(QUIET_MS);

      expect(invoicing.ids().sort()).toEqual(['e1', 'e2']);
      expect(notification.ids()).toEqual(['e1']);
      expect(archive.ids()).toEqual([]);
      for (const received of [...invoicing.handled, ...notification.handled].filter((r) => idOf(r) === 'e1')) {
        expect(received.value).toBeInstanceOf(Uint8Array);
        expect({ ...received, value: [...received.value] }).toEqual({
          topic: DIRECTORY,
          key: 'dossier-1',
          value: [0, 1, 128, 255, 10, 13, 0],
          headers,
        });
      }
      expect(invoicing.handled.find((r) => idOf(r) === 'e2')).toMatchObject({ topic: ARCHIVE, key: 'dossier-2' });
    });

    test('publish() resolves for no records, and for records of a topic no group reads', async () => {
      const transport = await adapter.open();
      const invoicing = reader();
      await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: invoicing.handler });
      expect(await settlesWithin(transport.publish([]), 1000)).toBe(true);
      expect(await settlesWithin(transport.publish([record(BACKUP, 'dossier-1', 'b1')]), 1000)).toBe(true);
      await pauseFor(QUIET_MS);
      expect(invoicing.ids()).toEqual([]);
    });

    test(
      capabilities.publishAwaitsHandling
        ? 'publish() resolves only once every group reading its records handled them, so a crash before then leaves them with the publisher'
        : 'publish() resolves once its records are stored, before the groups reading them handled them',
      async () => {
        const transport = await adapter.open();
        const invoicing = heldReader();
        const notification = reader();
        await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: invoicing.handler });
        await transport.subscribe({
          groupId: 'notification',
          topics: [DIRECTORY, ARCHIVE],
          handler: notification.handler,
        });
        const publishing = transport.publish([
          record(DIRECTORY, 'dossier-1', 'e1'),
          record(ARCHIVE, 'dossier-2', 'e2'),
        ]);
        await notification.until(2);
        expect(await settlesWithin(publishing, capabilities.publishAwaitsHandling ? 50 : 1000)).toBe(
          !capabilities.publishAwaitsHandling,
        );
        expect(invoicing.ids()).toEqual([]);
        invoicing.release();
        await publishing;
        await invoicing.until(1);
        expect(invoicing.ids()).toEqual(['e1']);
      },
    );

    test(`keeps each key's records in publish order ${
      capabilities.orderAcrossTopics
        ? 'across topics too'
        : 'within each topic (not across topics: each is read on its own)'
    }, over consecutive batches, while other keys' records pass them`, async () => {
      const transport = await adapter.open();
      const streamOf = (r: EventRecord) => (capabilities.orderAcrossTopics ? r.key : `${r.topic} ${r.key}`);
      const handledBy: Record<string, string[]> = {};
      const invoicing = reader(async (received) => {
        // uneven handling times, so that records of other keys can overtake
        const turns = Number(idOf(received).slice(1)) % 5;
        for (let turn = 0; turn < turns; turn++) await new Promise((resolve) => setImmediate(resolve));
        (handledBy[streamOf(received)] ??= []).push(idOf(received));
      });
      await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY, ARCHIVE], handler: invoicing.handler });

      const published: Record<string, string[]> = {};
      const inPublishOrder: string[] = [];
      for (let batch = 0; batch < 3; batch++) {
        const records = Array.from({ length: 40 }, (_, index) => {
          const n = batch * 40 + index;
          return record(n % 3 === 0 ? ARCHIVE : DIRECTORY, `dossier-${n % 8}`, `e${n}`);
        });
        for (const one of records) (published[streamOf(one)] ??= []).push(idOf(one));
        inPublishOrder.push(...records.map(idOf));
        await transport.publish(records);
      }
      await invoicing.until(120);
      await pauseFor(QUIET_MS);

      expect(invoicing.handled).toHaveLength(120);
      expect(handledBy).toEqual(published);
      expect(invoicing.ids()).not.toEqual(inPublishOrder);
    });

    test('a failing handler gets the same record again until it succeeds; the later records of its key wait, nothing is skipped or handled twice', async () => {
      const transport = await adapter.open();
      let failuresLeft = 2;
      const invoicing = reader((received) => {
        if (idOf(received) === 'f1' && failuresLeft-- > 0) throw new Error('database unavailable');
      });
      await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: invoicing.handler });
      const publishing = transport.publish([
        record(DIRECTORY, 'dossier-1', 'f1'),
        record(DIRECTORY, 'dossier-2', 'o1'),
        record(DIRECTORY, 'dossier-1', 'f2'),
        record(DIRECTORY, 'dossier-3', 'o2'),
        record(DIRECTORY, 'dossier-1', 'f3'),
      ]);
      await invoicing.until(5);
      await publishing;
      await pauseFor(QUIET_MS);

      expect(invoicing.attempts.filter((id) => id.startsWith('f'))).toEqual(['f1', 'f1', 'f1', 'f2', 'f3']);
      expect(invoicing.ids().filter((id) => id.startsWith('f'))).toEqual(['f1', 'f2', 'f3']);
      expect(invoicing.ids().sort()).toEqual(['f1', 'f2', 'f3', 'o1', 'o2']);
    });

    test('a failing record holds back its own key, not every key', async () => {
      const transport = await adapter.open();
      let failing = true;
      const notification = reader((received) => {
        if (idOf(received) === 'stuck' && failing) throw new Error('mail server away');
      });
      await transport.subscribe({ groupId: 'notification', topics: [DIRECTORY], handler: notification.handler });
      const others = Array.from({ length: 12 }, (_, n) => record(DIRECTORY, `dossier-${n + 2}`, `other-${n}`));
      const publishing = transport.publish([record(DIRECTORY, 'dossier-1', 'stuck'), ...others]);
      await notification.until(1);
      expect(notification.attempts).toContain('stuck');
      expect(notification.ids()).not.toContain('stuck');

      failing = false;
      await notification.until(13);
      await publishing;
    });

    test('hands every delivery a copy of its own: changing a record changes nothing for another group, for its next delivery, or after publish() for the publisher', async () => {
      const transport = await adapter.open();
      const seen: Array<{ by: string; key: string; id: string; value: number[] }> = [];
      const look = (by: string, received: EventRecord) =>
        seen.push({ by, key: received.key, id: idOf(received), value: [...received.value] });
      const vandalized = deferred();
      let vandalAttempts = 0;
      await transport.subscribe({
        groupId: 'vandal',
        topics: [DIRECTORY],
        handler: async (received) => {
          look('vandal', received);
          received.value.fill(0);
          received.headers['event-id'] = 'changed';
          received.key = 'changed';
          if (++vandalAttempts === 1) {
            vandalized.resolve();
            throw new Error('failed after changing its record');
          }
        },
      });
      await transport.subscribe({
        groupId: 'reader',
        topics: [DIRECTORY],
        handler: async (received) => {
          await vandalized.promise;
          look('reader', received);
        },
      });
      const mine = record(DIRECTORY, 'dossier-1', 'e1');
      await transport.publish([mine]);
      mine.value.fill(7);
      mine.headers['event-id'] = 'mine';
      mine.key = 'mine';
      await eventually(
        () => seen.length === 3,
        () => `three looks at the record, got ${JSON.stringify(seen)}`,
      );

      const intact = { key: 'dossier-1', id: 'e1', value: [...new TextEncoder().encode('e1')] };
      expect(seen.sort((a, b) => a.by.localeCompare(b.by))).toEqual([
        { by: 'reader', ...intact },
        { by: 'vandal', ...intact },
        { by: 'vandal', ...intact },
      ]);
    });

    if (capabilities.sharedGroups) {
      test("two subscriptions of one group, in two processes, share its records: each record reaches one of them, all of a key's records the same one", async () => {
        const [one, two] = [await adapter.open(), await adapter.open()];
        const first = reader();
        const second = reader();
        await one.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: first.handler });
        await two.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: second.handler });
        const records = Array.from({ length: 40 }, (_, n) => record(DIRECTORY, `dossier-${n % 20}`, `e${n}`));
        await one.publish(records);
        await eventually(
          () => first.handled.length + second.handled.length >= 40,
          () => `40 records between the two, got ${first.handled.length} + ${second.handled.length}`,
        );
        await pauseFor(QUIET_MS);

        expect([...first.ids(), ...second.ids()].sort()).toEqual(records.map(idOf).sort());
        expect(first.handled.length).toBeGreaterThan(0);
        expect(second.handled.length).toBeGreaterThan(0);
        const keysOfSecond = new Set(second.handled.map((r) => r.key));
        expect(first.handled.filter((r) => keysOfSecond.has(r.key))).toEqual([]);
      });
    } else {
      test('refuses a second subscription of a group already subscribed (one member per group); the first goes on', async () => {
        const transport = await adapter.open();
        const elsewhere = await adapter.open();
        const invoicing = reader();
        await transport.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: invoicing.handler });
        expect(
          await outcome(elsewhere.subscribe({ groupId: 'invoicing', topics: [ARCHIVE], handler: async () => {} })),
        ).toEqual({ kind: 'failed_precondition', reason: 'group_already_subscribed' });
        await transport.publish([record(DIRECTORY, 'dossier-1', 'e1')]);
        await invoicing.until(1);
      });
    }

    test(
      keepsRecords
        ? `a new group starts at the earliest kept record, or with newGroupStartsAt 'latest' at what is published once it subscribed; left out, at the transport's own setting ('${keepsRecords.newGroupStartsAt}')`
        : 'a group gets only what is published while it is subscribed, whatever newGroupStartsAt says: nothing is kept for a group that is not',
      async () => {
        const transport = await adapter.open();
        await transport.publish([record(DIRECTORY, 'dossier-1', 'before')]);
        const groups = (['earliest', 'latest', undefined] as const).map((startsAt) => ({ startsAt, reader: reader() }));
        for (const { startsAt, reader: group } of groups) {
          await transport.subscribe({
            groupId: `starting-at-${startsAt ?? 'default'}`,
            topics: [DIRECTORY],
            newGroupStartsAt: startsAt,
            handler: group.handler,
          });
        }
        await transport.publish([record(DIRECTORY, 'dossier-1', 'after')]);
        const expected = (startsAt: 'earliest' | 'latest' | undefined) =>
          keepsRecords && (startsAt ?? keepsRecords.newGroupStartsAt) === 'earliest' ? ['before', 'after'] : ['after'];
        for (const { startsAt, reader: group } of groups) await group.until(expected(startsAt).length);
        await pauseFor(QUIET_MS);

        expect(groups.map(({ reader: group }) => group.ids())).toEqual(
          groups.map(({ startsAt }) => expected(startsAt)),
        );
      },
    );

    test(`stop() waits for the handler in flight and acknowledges its record, then nothing more reaches the subscription; what its group had not handled ${
      keepsRecords
        ? "reaches it when it subscribes again, from its last acknowledged record even with newGroupStartsAt 'latest'"
        : 'fails its publish, as does a publish while the group is stopped, so the publisher keeps them'
    }`, async () => {
      const transport = await adapter.open();
      const published = await endWhileHandling(transport, ['i1', 'i2'], (subscription) => subscription.stop());

      let again: ReturnType<typeof reader>;
      if (keepsRecords) {
        expect(published).toBe('resolved');
        await transport.publish([record(ARCHIVE, 'dossier-1', 'i3')]);
        again = await readerSubscribed(transport, 'archive', [ARCHIVE], 'latest');
        await again.until(2);
      } else {
        const stopped = { kind: 'unavailable', reason: 'consumer_group_stopped' };
        expect(published).toEqual(stopped);
        expect(await outcome(transport.publish([record(ARCHIVE, 'dossier-1', 'i3')]))).toEqual(stopped);
        // the publisher (the outbox relay) publishes them again once the group is back
        again = await readerSubscribed(transport, 'archive', [ARCHIVE]);
        await transport.publish([record(ARCHIVE, 'dossier-1', 'i2'), record(ARCHIVE, 'dossier-1', 'i3')]);
      }
      await pauseFor(QUIET_MS);
      expect(again.ids()).toEqual(['i2', 'i3']);
    });

    test(`stop() during a redelivery back-off returns at once and leaves the failing record unacknowledged: ${
      keepsRecords ? 'it reaches the group again when it subscribes again' : 'its publish fails'
    }`, async () => {
      const slowRetries = await fresh({ redeliveryBackoff: { initialMs: 60_000, maxMs: 60_000 } });
      const transport = await slowRetries.open();
      let attempts = 0;
      const subscription = await transport.subscribe({
        groupId: 'notification',
        topics: [DIRECTORY],
        handler: async () => {
          attempts += 1;
          throw new Error('the mail server refuses everything');
        },
      });
      const publishing = outcome(transport.publish([record(DIRECTORY, 'dossier-1', 'd1')]));
      await eventually(
        () => attempts > 0,
        () => 'the first attempt',
      );
      const startedAt = Date.now();
      await subscription.stop();
      expect(Date.now() - startedAt).toBeLessThan(1000);
      expect(attempts).toBe(1);

      if (keepsRecords) {
        const again = await readerSubscribed(transport, 'notification', [DIRECTORY], 'earliest');
        await again.until(1);
        expect(again.ids()).toEqual(['d1']);
      } else {
        expect(await publishing).toEqual({ kind: 'unavailable', reason: 'consumer_group_stopped' });
      }
    });

    test(`close() waits for the handlers in flight, then delivers nothing more and refuses publish() and subscribe(); what was not handled by then ${
      keepsRecords ? 'reaches its group in another process' : 'fails its publish'
    }`, async () => {
      const transport = await adapter.open();
      const published = await endWhileHandling(transport, ['c1', 'c2'], () => transport.close());

      const closed = { reason: 'event_transport_closed' };
      expect(await outcome(transport.publish([record(ARCHIVE, 'dossier-1', 'c3')]))).toMatchObject(closed);
      expect(
        await outcome(transport.subscribe({ groupId: 'backup', topics: [ARCHIVE], handler: async () => {} })),
      ).toMatchObject(closed);

      if (keepsRecords) {
        expect(published).toBe('resolved');
        const again = await readerSubscribed(await adapter.open(), 'archive', [ARCHIVE]);
        await again.until(1);
        await pauseFor(QUIET_MS);
        expect(again.ids()).toEqual(['c2']);
      } else {
        // the transport closed, or (a worker's transport) its groups on the hub stopped
        expect([
          { kind: 'unavailable', reason: 'event_transport_closed' },
          { kind: 'unavailable', reason: 'consumer_group_stopped' },
        ]).toContainEqual(published);
      }
    });

    test('subscribe() refuses a subscription without a group id or without topics', async () => {
      const transport = await adapter.open();
      const handler = async () => {};
      expect(await outcome(transport.subscribe({ groupId: '', topics: [DIRECTORY], handler }))).toMatchObject({
        kind: 'invalid_argument',
      });
      expect(await outcome(transport.subscribe({ groupId: 'invoicing', topics: [], handler }))).toMatchObject({
        kind: 'invalid_argument',
      });
    });

    if (crashedHandler) {
      test(
        crashedHandler === 'redelivered'
          ? 'a record whose handler had not finished when its process crashed reaches the group again in another process; a process dropped from its group acknowledges nothing more'
          : "a record whose handler had not finished when its process crashed fails its publish, so the publisher keeps it; the group's records are refused until it subscribes again",
        async () => {
          const doomed = await adapter.open();
          const publisher = await adapter.open();
          const abandoned = heldReader();
          await doomed.subscribe({ groupId: 'invoicing', topics: [DIRECTORY], handler: abandoned.handler });
          const [k1, k2] = [record(DIRECTORY, 'dossier-1', 'k1'), record(DIRECTORY, 'dossier-1', 'k2')];
          const publishing = outcome(publisher.publish(crashedHandler === 'redelivered' ? [k1, k2] : [k1]));
          await abandoned.started;
          await adapter.crash!(doomed);
          if (crashedHandler === 'redelivered') {
            expect(await publishing).toBe('resolved');
          } else {
            expect(await publishing).toMatchObject({ kind: 'unavailable' });
            expect(await outcome(publisher.publish([k2]))).toEqual({
              kind: 'unavailable',
              reason: 'consumer_group_stopped',
            });
          }
          // the abandoned handler finishes, too late to acknowledge anything (as in a process that stalled past
          // its session and was dropped from its group), and nothing more reaches it
          abandoned.release();
          await abandoned.until(1);
          await pauseFor(QUIET_MS);
          expect(abandoned.attempts).toEqual(['k1']);

          const again = await readerSubscribed(await adapter.open(), 'invoicing', [DIRECTORY]);
          // the publisher (the outbox relay) publishes again what was refused
          if (crashedHandler === 'publish-refused') await publisher.publish([k1, k2]);
          await again.until(2);
          await pauseFor(QUIET_MS);
          expect(again.ids()).toEqual(['k1', 'k2']);
        },
      );
    }
  });
}
