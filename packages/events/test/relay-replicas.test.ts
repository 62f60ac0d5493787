import { PgDatabase, migrate } from '@kantoor/database';
import { createScratchPostgres, describeWithPostgres, type ScratchPostgres } from '@kantoor/testing';
import { OutboxRelay, migrations, type EventRecord, type EventTransport } from '../src';
import { eventually, quietLogger, registerFirm } from './event-fixtures';

describeWithPostgres('two relay replicas on one outbox', () => {
  let scratch: ScratchPostgres;
  let writer: PgDatabase;
  let replicas: PgDatabase[];

  beforeAll(async () => {
    scratch = await createScratchPostgres();
    writer = new PgDatabase({ connectionString: scratch.url, max: 5 });
    replicas = [
      new PgDatabase({ connectionString: scratch.url, max: 3 }),
      new PgDatabase({ connectionString: scratch.url, max: 3 }),
    ];
    await migrate(writer, migrations());
  });
  afterAll(async () => {
    await Promise.all([writer, ...replicas].map((db) => db.close()));
    await scratch.drop();
  });

  it('publish each event once and every dossier’s events in order while services keep writing', async () => {
    const published: Array<{ relay: number; record: EventRecord }> = [];
    // a broker that takes a moment per batch, so that the replicas' batches overlap in time
    const brokerFor = (relay: number): EventTransport => ({
      publish: async (records) => {
        await new Promise((resolve) => setTimeout(resolve, 1 + Math.random() * 4));
        for (const record of records) published.push({ relay, record });
      },
      subscribe: async () => ({ stop: async () => {} }),
      close: async () => {},
    });
    const relays = replicas.map(
      (db, index) =>
        new OutboxRelay({ db, transport: brokerFor(index), logger: quietLogger, batchSize: 15, pollIntervalMs: 2 }),
    );
    relays.forEach((relay) => relay.start());

    const written: Record<string, string[]> = {};
    // each dossier's changes come one after the other (as its row lock makes them); dossiers in parallel
    await Promise.all(
      Array.from({ length: 6 }, async (_, d) => {
        const dossier = `dossier-${d}`;
        for (let i = 0; i < 40; i++) {
          (written[dossier] ??= []).push(await registerFirm(writer, 'firm-1', `${dossier}.${i}`, dossier));
          relays[i % 2].wake();
        }
      }),
    );
    await eventually(
      async () => (await writer.query('SELECT 1 FROM outbox WHERE published_at IS NULL')).rowCount === 0,
      'an empty outbox',
      10_000,
    );
    await Promise.all(relays.map((relay) => relay.stop()));

    const ids = published.map(({ record }) => record.headers['event-id']);
    expect(ids).toHaveLength(240);
    expect(new Set(ids).size).toBe(240);
    const publishedPerDossier: Record<string, string[]> = {};
    for (const { record } of published) (publishedPerDossier[record.key] ??= []).push(record.headers['event-id']);
    expect(publishedPerDossier).toEqual(written);
    // both replicas took part: the lock hands the outbox from one to the other rather than pinning it
    expect(new Set(published.map(({ relay }) => relay))).toEqual(new Set([0, 1]));
  });

  it('lets the other replica take over when one stops', async () => {
    const published: string[] = [];
    const broker: EventTransport = {
      publish: async (records) => void published.push(...records.map((record) => record.headers['event-id'])),
      subscribe: async () => ({ stop: async () => {} }),
      close: async () => {},
    };
    const [first, second] = replicas.map(
      (db) => new OutboxRelay({ db, transport: broker, logger: quietLogger, pollIntervalMs: 5 }),
    );
    first.start();
    second.start();
    const before = await registerFirm(writer, 'firm-2', 'before');
    await eventually(() => published.includes(before), 'the first event');
    await first.stop();
    const after = await registerFirm(writer, 'firm-2', 'after');
    await eventually(() => published.includes(after), 'the event after the stop');
    await second.stop();
    expect(published.filter((id) => id === before || id === after)).toEqual([before, after]);
  });
});
