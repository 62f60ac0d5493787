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
