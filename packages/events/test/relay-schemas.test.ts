import { PgDatabase, migrate } from '@kantoor/database';
import { createScratchPostgres, describeWithPostgres, type ScratchPostgres } from '@kantoor/testing';
import { OutboxRelay, migrations, type EventTransport } from '../src';
import { quietLogger, registerFirm } from './event-fixtures';

/** Services may share one PostgreSQL database, each in a schema of its own (search_path in DATABASE_URL). */
describeWithPostgres('outbox relays of two services sharing a database, a schema each', () => {
  let scratch: ScratchPostgres;
  const databases: PgDatabase[] = [];

  beforeAll(async () => {
    scratch = await createScratchPostgres();
    for (const schema of ['directory', 'archive']) {
      const setup = new PgDatabase({ connectionString: scratch.url, max: 1 });
      await setup.query(`CREATE SCHEMA ${schema}`);
      await setup.close();
      const url = new URL(scratch.url);
      url.searchParams.set('options', `-c search_path=${schema}`);
      const db = new PgDatabase({ connectionString: url.toString(), max: 3 });
      await migrate(db, migrations());
      databases.push(db);
    }
  });
  afterAll(async () => {
    await Promise.all(databases.map((db) => db.close()));
    await scratch.drop();
  });

  it("publish side by side: one service's batch in flight does not hold back the other's", async () => {
    const [directory, archive] = databases;
    await registerFirm(directory, 'firm-1', 'Directory event', 'dossier-1');
    await registerFirm(archive, 'firm-1', 'Archive event', 'dossier-2');
    // the directory's broker holds its batch (and so its relay's transaction) until released
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let publishing!: () => void;
    const inFlight = new Promise<void>((resolve) => (publishing = resolve));
    const broker = (hold: boolean): EventTransport => ({
      publish: async () => {
        if (!hold) return;
        publishing();
        await held;
      },
      subscribe: async () => ({ stop: async () => {} }),
      close: async () => {},
    });
    const directoryBatch = new OutboxRelay({
      db: directory,
      transport: broker(true),
      logger: quietLogger,
    }).relayBatch();
    await inFlight;
    const archiveOutcome = await new OutboxRelay({
      db: archive,
      transport: broker(false),
      logger: quietLogger,
    }).relayBatch();
    release();
    expect(archiveOutcome).toEqual({ published: 1 });
    expect(await directoryBatch).toEqual({ published: 1 });
  });
});
