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
                opened_on date, opened_at timestamptz NOT NULL DEFAULT now(), size bigint, settings jsonb, logo bytea);
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

  test('parameters of every kind arrive as sent: NULL, non-ASCII text, bytes, json; an UPDATE counts its rows', async () => {
    const name = 'Crème & Brûlée — Ærø BV 🍞';
    const logo = Buffer.from([0, 1, 127, 128, 255]);
    await db.query('INSERT INTO account (name, opened_on, settings, logo) VALUES ($1, $2, $3, $4)', [
      name,
      null,
      JSON.stringify({ city: 'Liège' }),
      logo,
    ]);
    await db.query('INSERT INTO account (name) VALUES ($1)', ['Bakkerij Peeters']);
    const { rows } = await db.query('SELECT name, opened_on, settings, logo FROM account WHERE name = $1', [name]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ name, opened_on: null, settings: { city: 'Liège' } });
    expect(Buffer.from(rows[0].logo)).toEqual(logo);
    const updated = await db.query('UPDATE account SET balance = balance + $1 WHERE name <> $2', ['1.25', 'nobody']);
    expect(updated.rowCount).toBe(2);
    expect(updated.rows).toEqual([]);
  });

  test('lists and moments as parameters: an array for ANY, a Date for a timestamp', async () => {
    const names = ['Bakkerij Peeters', 'Slagerij Janssens', 'Café De Hoek'];
    const openedAt = new Date('2026-03-31T22:30:00.000Z');
    for (const name of names) await db.query('INSERT INTO account (name, opened_at) VALUES ($1, $2)', [name, openedAt]);
    const { rows } = await db.query('SELECT name, opened_at FROM account WHERE name = ANY($1) ORDER BY name', [
      [names[2], names[0], 'nobody'],
    ]);
    expect(rows.map((row) => row.name)).toEqual([names[0], names[2]]);
    expect(rows.map((row) => (row.opened_at as Date).toISOString())).toEqual([
      openedAt.toISOString(),
      openedAt.toISOString(),
    ]);
    // the Belgian calendar day of that moment is the next one
    const { rows: days } = await db.query(
      `SELECT to_char($1::timestamptz AT TIME ZONE 'Europe/Brussels', 'YYYY-MM-DD') AS day`,
      [openedAt],
    );
    expect(days).toEqual([{ day: '2026-04-01' }]);
  });

  test('a statement with parameters that breaks a constraint changes nothing, in or out of a transaction', async () => {
    const insert = 'INSERT INTO account (name, balance) VALUES ($1, $2)';
    await db.query(insert, ['Bakkerij Peeters', '10.00']);
    await expect(db.query(insert, ['Bakkerij Peeters', '20.00'])).rejects.toMatchObject({
      code: '23505',
      constraint: 'account_name_key',
      detail: 'Key (name)=(Bakkerij Peeters) already exists.',
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query(insert, ['Slagerij Janssens', '5.00']);
        await tx.query(insert, ['Bakkerij Peeters', '30.00']);
      }),
    ).rejects.toMatchObject({ code: '23505' });
    // the same statements still run, and only the first row is there
    await db.query(insert, ['Café De Hoek', '1.00']);
    const { rows } = await db.query('SELECT name, balance FROM account WHERE balance < $1 ORDER BY name', ['100']);
    expect(rows).toEqual([
      { name: 'Bakkerij Peeters', balance: '10.00' },
      { name: 'Café De Hoek', balance: '1.00' },
    ]);
  });

  test('a statement with parameters returns every row of a long answer, non-ASCII text and NULLs as stored', async () => {
    // 20,000 rows of about 60 bytes: more than one buffer's worth of the backend's answer
    const { rows, rowCount } = await db.query<{ n: number; name: string | null; balance: string }>(
      `SELECT n, CASE WHEN n % 7 = 0 THEN NULL ELSE $1 || n END AS name, (n * 0.01)::numeric(14,2) AS balance
         FROM generate_series(1, $2::int) AS n`,
      ['Crème brûlée — Ærøskøbing 日本 ', 20_000],
    );
    expect(rowCount).toBe(20_000);
    expect(rows[0]).toEqual({ n: 1, name: 'Crème brûlée — Ærøskøbing 日本 1', balance: '0.01' });
    expect(rows[6]).toEqual({ n: 7, name: null, balance: '0.07' });
    expect(rows[19_999]).toEqual({ n: 20_000, name: 'Crème brûlée — Ærøskøbing 日本 20000', balance: '200.00' });
    expect(rows.filter((row) => row.name === null)).toHaveLength(Math.floor(20_000 / 7));
  });

  test('a query made while a transaction is open never sees its uncommitted rows', async () => {
    let inserted!: () => void;
    const insertedRow = new Promise<void>((resolve) => (inserted = resolve));
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const transaction = db.transaction(async (tx) => {
      await tx.query('INSERT INTO account (name) VALUES ($1)', ['not yet']);
      inserted();
      await released;
      throw new Error('changed my mind');
    });
    await insertedRow;
    // PostgreSQL answers from before the transaction; PGlite's one session waits for the transaction to end
    const counted = db.query('SELECT count(*)::int AS n FROM account WHERE name = $1', ['not yet']);
    release();
    await expect(transaction).rejects.toThrow('changed my mind');
    expect((await counted).rows).toEqual([{ n: 0 }]);
  });

  test('statements a transaction starts together each get their own answer', async () => {
    const answers = await db.transaction((tx) =>
      Promise.all(
        Array.from({ length: 12 }, (_, index) =>
          index % 3 === 0
            ? tx.query(`SELECT ${index} AS n`)
            : tx.query('INSERT INTO account (name) VALUES ($1) RETURNING name', [`together ${index}`]),
        ),
      ),
    );
    expect(answers.map((answer, index) => (index % 3 === 0 ? answer.rows[0].n : answer.rows[0].name))).toEqual(
      Array.from({ length: 12 }, (_, index) => (index % 3 === 0 ? index : `together ${index}`)),
    );
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
