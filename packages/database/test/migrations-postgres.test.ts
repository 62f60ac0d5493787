import { migrate, PgDatabase } from '@kantoor/database';
import { createScratchPostgres, describeWithPostgres, type ScratchPostgres } from '@kantoor/testing';

describeWithPostgres('migrations on PostgreSQL, several runners at once (pods starting together)', () => {
  let scratch: ScratchPostgres;
  beforeAll(async () => {
    scratch = await createScratchPostgres();
  });
  afterAll(() => scratch.drop());

  test('each migration is applied exactly once, whichever runner gets there first', async () => {
    const runners = Array.from({ length: 4 }, () => new PgDatabase({ connectionString: scratch.url, max: 2 }));
    const migrations = [
      { version: '0001_ledger', sql: 'CREATE TABLE ledger (id serial PRIMARY KEY, amount numeric(14,2) NOT NULL)' },
      // not idempotent: a second run would fail on the duplicate row's key
      { version: '0002_opening', sql: 'INSERT INTO ledger (id, amount) VALUES (1, 0.00)' },
    ];
    try {
      const reports = await Promise.all(runners.map((db) => migrate(db, migrations)));
      expect(reports.flatMap((report) => report.applied).sort()).toEqual(['0001_ledger', '0002_opening']);
      expect(reports.map((report) => report.applied.length + report.alreadyApplied)).toEqual([2, 2, 2, 2]);
      expect((await runners[0].query('SELECT count(*)::int AS n FROM ledger')).rows).toEqual([{ n: 1 }]);
    } finally {
      await Promise.all(runners.map((db) => db.close()));
    }
  });
});

describeWithPostgres('migrations on PostgreSQL that writes dates in another style', () => {
  let scratch: ScratchPostgres;
  beforeAll(async () => {
    scratch = await createScratchPostgres();
  });
  afterAll(() => scratch.drop());

  test('a database set to another DateStyle stops the start with a message naming it, and nothing is applied', async () => {
    const german = new PgDatabase({ connectionString: scratch.url, max: 1, options: '-c DateStyle=German' });
    const migrations = [{ version: '0001_ledger', sql: 'CREATE TABLE ledger (id serial PRIMARY KEY)' }];
    try {
      await expect(migrate(german, migrations)).rejects.toThrow(/"German, DMY" style \(DateStyle\).*ISO/);
    } finally {
      await german.close();
    }
    const iso = new PgDatabase({ connectionString: scratch.url, max: 1 });
    try {
      expect((await iso.query(`SELECT to_regclass('ledger') AS found`)).rows).toEqual([{ found: null }]);
      // ISO with any order of day and month is fine
      const dmy = new PgDatabase({ connectionString: scratch.url, max: 1, options: '-c DateStyle=ISO,DMY' });
      try {
        expect((await migrate(dmy, migrations)).applied).toEqual(['0001_ledger']);
      } finally {
        await dmy.close();
      }
    } finally {
      await iso.close();
    }
  });
});
