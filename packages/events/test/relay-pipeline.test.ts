/**
 * Embedded mode: the relay publishes later batches while an earlier one waits for a consumer group whose
 * handler keeps failing, so one failing consumer holds back only its own dossier's events, not every later
 * event of the service for every group.
 */
import { migrate, type Database } from '@kantoor/database';
import { openTestPglite } from '@kantoor/testing';
import { InProcessTransport, OutboxRelay, decodeEnvelope, migrations, type EventRecord } from '../src';
import { laneOf } from '../src/in-process-transport';
import { eventually, quietLogger, registerFirm } from './event-fixtures';

const TOPIC = 'kantoor.directory.v1';

describe('outbox relay on PGlite with in-process delivery', () => {
  let db: Database;
  let dispose: () => Promise<void>;
  let transport: InProcessTransport;
  let relay: OutboxRelay | undefined;

  beforeEach(async () => {
    ({ db, dispose } = await openTestPglite());
    await migrate(db, migrations());
    transport = new InProcessTransport({ logger: quietLogger, redeliveryBackoff: { initialMs: 5, maxMs: 20 } });
  });
  afterEach(async () => {
    await transport.close();
    await relay?.stop();
    await dispose();
  });

  const unpublished = async () =>
    (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL')).rows[0].n;
  const firmOf = (record: EventRecord) => decodeEnvelope(record.value).firmId;

  test("a group whose handler keeps failing for one dossier holds back only that dossier's lane", async () => {
    // dossier "stuck" has an event first and one last; the archive-like group refuses its events until the
    // test lets them pass
    const dossiers = ['dossier-stuck', ...Array.from({ length: 30 }, (_, i) => `dossier-${i}`), 'dossier-stuck'];
    const firms = ['firm-stuck', ...Array.from({ length: 30 }, (_, i) => `firm-${i}`), 'firm-stuck-later'];
    for (const [i, firm] of firms.entries()) await registerFirm(db, firm, firm, dossiers[i]);

    let refuseStuck = true;
    const archived: string[] = [];
    const notified: string[] = [];
    await transport.subscribe({
      groupId: 'archive',
      topics: [TOPIC],
      handler: async (record) => {
        if (record.key === 'dossier-stuck' && refuseStuck) throw new Error('the object store is down');
        archived.push(firmOf(record));
      },
    });
    await transport.subscribe({
      groupId: 'notification',
      topics: [TOPIC],
      handler: async (record) => void notified.push(firmOf(record)),
    });
    // 5 rows a batch (7 batches): every batch with a record in the stuck dossier's lane of the archive group waits
    relay = new OutboxRelay({ db, transport, logger: quietLogger, batchSize: 5, pollIntervalMs: 5 });
    relay.start();

    // the other group gets every event, the later batches too (before, it got the first batch only)
    await eventually(() => notified.length === 32, 'the notification group gets all 32 events', 5_000);
    expect([...notified].sort()).toEqual([...firms].sort());
    // the archive gets every event outside the stuck lane (8 lanes, like Kafka partitions)
    const stuckLane = laneOf('dossier-stuck', 8);
    const outsideStuckLane = firms.filter((_, i) => laneOf(dossiers[i], 8) !== stuckLane);
    expect(outsideStuckLane.length).toBeGreaterThan(20);
    await eventually(() => archived.length === outsideStuckLane.length, 'the archive gets the other lanes', 5_000);
    expect([...archived].sort()).toEqual([...outsideStuckLane].sort());
    // a batch is marked published once every group handled it: those with a record in the stuck lane wait
    const waiting = firms.filter((_, i) =>
      dossiers.slice(i - (i % 5), i - (i % 5) + 5).some((dossier) => laneOf(dossier, 8) === stuckLane),
    );
    await eventually(async () => (await unpublished()) === waiting.length, 'the handled batches marked', 5_000);

    // the store is back: the stuck dossier's events arrive in their order and everything is marked
    refuseStuck = false;
    await eventually(() => archived.length === 32, 'the archive catches up', 5_000);
    expect(archived.filter((firm) => firm.startsWith('firm-stuck'))).toEqual(['firm-stuck', 'firm-stuck-later']);
    await eventually(async () => (await unpublished()) === 0, 'every row marked published', 5_000);
  });

  test('a publish refused (a group stopped) leaves its rows; they are published again once the group is back', async () => {
    for (let i = 0; i < 12; i++) await registerFirm(db, `firm-${i}`, `Firm ${i}`, `dossier-${i}`);
    const seen: string[] = [];
    const first = await transport.subscribe({ groupId: 'archive', topics: [TOPIC], handler: async () => undefined });
    await first.stop();
    relay = new OutboxRelay({
      db,
      transport,
      logger: quietLogger,
      batchSize: 5,
      pollIntervalMs: 5,
      publishBackoff: { initialMs: 10, maxMs: 20 },
    });
    relay.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await unpublished()).toBe(12);
    await transport.subscribe({ groupId: 'archive', topics: [TOPIC], handler: async (r) => void seen.push(firmOf(r)) });
    await eventually(async () => (await unpublished()) === 0, 'every row published once the group is back', 5_000);
    // at least once: a batch refused while the group was away may be handed over again (the inbox dedupes)
    expect([...new Set(seen)].sort()).toEqual(Array.from({ length: 12 }, (_, i) => `firm-${i}`).sort());
  });
});
