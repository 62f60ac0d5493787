import type { PgDatabase } from '@kantoor/database';
import { describeWithPostgres, openTestPostgres, type TestDatabase } from '@kantoor/testing';

/** The answers a connection of the pool received that ended a round trip (ReadyForQuery), while `work` ran. */
async function roundTrips(db: PgDatabase, work: () => Promise<unknown>): Promise<number> {
  const client = await db.pool.connect();
  const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
  client.release();
  let count = 0;
  const count1 = () => count++;
  connection.on('readyForQuery', count1);
  try {
    await work();
  } finally {
    connection.off('readyForQuery', count1);
  }
  return count;
}

describeWithPostgres('PgDatabase transactions', () => {
  let handle: TestDatabase;
  let db: PgDatabase;
  beforeAll(async () => {
    // one connection, so that the round trips counted are the transaction's
    handle = await openTestPostgres(1);
    db = handle.db as PgDatabase;
    await db.query('CREATE TABLE entry (id int PRIMARY KEY, note text NOT NULL)');
  });
  afterAll(() => handle.dispose());

  const insert = 'INSERT INTO entry (id, note) VALUES ($1, $2) RETURNING id, note';

  test('BEGIN goes out with the first statement once that statement is prepared: one round trip fewer', async () => {
    // the first run prepares the statement on the connection: BEGIN, INSERT, COMMIT
    expect(await roundTrips(db, () => db.transaction((tx) => tx.query(insert, [1, 'first'])))).toBe(3);
    // then BEGIN + INSERT, COMMIT
    let rows: unknown[] = [];
    const trips = await roundTrips(db, async () => {
      rows = await db.transaction(async (tx) => (await tx.query(insert, [2, 'second'])).rows);
    });
    expect(trips).toBe(2);
    expect(rows).toEqual([{ id: 2, note: 'second' }]);
    // a statement without parameters (simple protocol) still has BEGIN first on its own
    expect(await roundTrips(db, () => db.transaction((tx) => tx.query('SELECT count(*) FROM entry')))).toBe(3);
    // nothing run, nothing sent
    expect(await roundTrips(db, () => db.transaction(async () => 'nothing'))).toBe(0);
  });

  test('the statement sent with BEGIN runs inside the transaction: a rollback undoes it', async () => {
    await db.transaction((tx) => tx.query(insert, [10, 'prepares']));
    await expect(
      db.transaction(async (tx) => {
        await tx.query(insert, [11, 'undone']);
        expect((await tx.query('SELECT count(*)::int AS n FROM entry WHERE id = $1', [11])).rows).toEqual([{ n: 1 }]);
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    expect((await db.query('SELECT id FROM entry WHERE id = $1', [11])).rows).toEqual([]);
  });

  test('a failing first statement fails the transaction, which rolls back, and the connection stays usable', async () => {
    await expect(db.transaction((tx) => tx.query(insert, [10, 'duplicate key']))).rejects.toMatchObject({
      code: '23505',
    });
    const isolation = await db.transaction(
      async (tx) => {
        await tx.query(insert, [20, 'after the failure']);
        return (await tx.query('SELECT current_setting($1) AS level', ['transaction_isolation'])).rows[0].level;
      },
      { isolation: 'serializable' },
    );
    expect(isolation).toBe('serializable');
    expect((await db.query('SELECT note FROM entry WHERE id = $1', [20])).rows).toEqual([
      { note: 'after the failure' },
    ]);
  });
});
