import { migrate, type Database } from '@kantoor/database';
import { describeEachDatabase, type TestDatabase } from '@kantoor/testing';

describeEachDatabase('database port', (open) => {
  let handle: TestDatabase;
  let db: Database;

  beforeAll(async () => {
    handle = await open();
    db = handle.db;
    await migrate(db, [
      {
        version: '0001_accounts',
        sql: `CREATE TABLE account (id serial PRIMARY KEY, name text NOT NULL UNIQUE, balance numeric(14,2) NOT NULL DEFAULT 0,
                opened_on date, opened_at timestamptz NOT NULL DEFAULT now(), size bigint, settings jsonb);
              CREATE INDEX account_name ON account (name);`,
      },
    ]);
  });
  afterAll(() => handle.dispose());
  beforeEach(() => db.query('DELETE FROM account'));

  test('values come back the same on every adapter: exact decimals, plain dates, numbers, json', async () => {
    await db.query(`INSERT INTO account (name, balance, opened_on, size, settings) VALUES ($1, $2, $3, $4, $5)`, [
      'Bakkerij Peeters',
      '1234.10',
      '2026-01-31',
      9007199254740991,
      JSON.stringify({ language: 'nl' }),
    ]);
    const { rows } = await db.query(
      'SELECT balance, opened_on, opened_at, size, settings, count(*) OVER () AS total FROM account',
    );
    expect(rows[0]).toMatchObject({ balance: '1234.10', opened_on: '2026-01-31', size: 9007199254740991, total: 1 });
    expect(rows[0].settings).toEqual({ language: 'nl' });
    expect(rows[0].opened_at).toBeInstanceOf(Date);
  });

  test('a transaction that throws leaves nothing behind', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO account (name) VALUES ('half done')`);
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect((await db.query('SELECT * FROM account')).rowCount).toBe(0);
  });

  test('a committed transaction keeps all its changes and reports affected rows', async () => {
    const result = await db.transaction(async (tx) => {
      await tx.query(`INSERT INTO account (name) VALUES ('a'), ('b')`);
      return tx.query(`UPDATE account SET balance = balance + 10.05 RETURNING balance`);
    });
    expect(result.rowCount).toBe(2);
    expect(result.rows.map((row) => row.balance)).toEqual(['10.05', '10.05']);
  });

  test('a statement with parameters, kept prepared, answers right run after run, in and out of transactions', async () => {
    const insert = 'INSERT INTO account (name, balance) VALUES ($1, $2) RETURNING name, balance';
    for (let index = 0; index < 12; index++) {
      const run = index % 2 ? db : undefined;
      const { rows } = run
        ? await run.query(insert, [`account ${index}`, `${index}.50`])
        : await db.transaction((tx) => tx.query(insert, [`account ${index}`, `${index}.50`]));
      expect(rows).toEqual([{ name: `account ${index}`, balance: `${index}.50` }]);
    }
    // one that does not parse fails each time, and leaves the connection usable
    for (let attempt = 0; attempt < 2; attempt++)
      await expect(db.query('SELECT nonsense FROM account WHERE id = $1', [1])).rejects.toMatchObject({
        code: '42703',
      });
    expect((await db.query('SELECT count(*)::int AS n FROM account WHERE balance > $1', ['5'])).rows).toEqual([
      { n: 7 },
    ]);
  });

  test('a unique violation surfaces with its SQLSTATE so callers can refuse duplicates', async () => {
    await db.query(`INSERT INTO account (name) VALUES ('dup')`);
    await expect(db.query(`INSERT INTO account (name) VALUES ('dup')`)).rejects.toMatchObject({ code: '23505' });
  });

  test('migrations run once and refuse an edited history', async () => {
    const again = await migrate(db, [{ version: '0001_accounts', sql: 'SELECT 1' }]).catch((error: Error) => error);
    expect(String(again)).toMatch(/0001_accounts was changed/);
    const report = await migrate(db, [{ version: '0002_extra', sql: 'ALTER TABLE account ADD COLUMN note text' }]);
    expect(report.applied).toEqual(['0002_extra']);
    expect(
      (await migrate(db, [{ version: '0002_extra', sql: 'ALTER TABLE account ADD COLUMN note text' }])).applied,
    ).toEqual([]);
  });
});
