/**
 * Rate limits shared by gateway replicas (RATE_LIMIT_SHARED): two gateways on one database give a person or an API
 * key the limit however its requests are spread; addresses stay per replica; an unreachable database leaves each
 * replica counting on its own.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { PgDatabase, type Database } from '@kantoor/database';
import { describeEachDatabase, recordTelemetry, type RecordedTelemetry, type TestDatabase } from '@kantoor/testing';
import { bearer, openMigratedDatabase, problemType, publicPing, staff, testApp, whoAmI } from './helpers';

const replicaOn = (db: TestDatabase['db'], env: Record<string, string> = {}, clock?: () => number) =>
  testApp({ db, clock }, [whoAmI, publicPing], {
    RATE_LIMIT_SHARED: 'true',
    RATE_LIMIT_WINDOW_SECONDS: '60',
    RATE_LIMIT_PER_IP: '2',
    ...env,
  });

describeEachDatabase('rate limits shared by gateway replicas', (open) => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await openMigratedDatabase(open);
  });
  afterAll(() => database.dispose());

  const person = () => bearer(staff({ subjectId: randomUUID() }));

  it('give a person the limit across two replicas, not twice it: exactly the limit passes, counted down by both', async () => {
    const [a, b] = [
      replicaOn(database.db, { RATE_LIMIT_PER_USER: '6' }).app,
      replicaOn(database.db, { RATE_LIMIT_PER_USER: '6' }).app,
    ];
    const bob = person();
    const statuses = [];
    const remaining = [];
    for (let i = 0; i < 12; i++) {
      const answer = await request(i % 2 ? b : a)
        .get('/v1/test/whoami')
        .set('authorization', bob);
      statuses.push(answer.status);
      remaining.push(answer.headers['ratelimit-remaining']);
    }
    expect(remaining.slice(0, 6)).toEqual(['5', '4', '3', '2', '1', '0']);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429]);
    const last = await request(a).get('/v1/test/whoami').set('authorization', bob);
    // 6 a minute: the next token comes in 10 s
    expect(last.headers).toMatchObject({ 'retry-after': '10', 'ratelimit-remaining': '0' });
    expect(last.body.type).toBe(problemType('rate-limited'));
  });

  it('let concurrent requests on one replica share a lease: 60 at once against a limit of 40, exactly 40 pass', async () => {
    const { app } = replicaOn(database.db, { RATE_LIMIT_PER_USER: '40' });
    const carla = person();
    const statuses = await Promise.all(
      Array.from(
        { length: 60 },
        async () => (await request(app).get('/v1/test/whoami').set('authorization', carla)).status,
      ),
    );
    expect(statuses.filter((status) => status === 200)).toHaveLength(40);
    expect(statuses.filter((status) => status === 429)).toHaveLength(20);
  });

  it('lease a few tokens at a time, and refill the shared bucket with time', async () => {
    const { app } = replicaOn(database.db, { RATE_LIMIT_PER_USER: '1200' });
    const subjectId = randomUUID();
    const dirk = bearer(staff({ subjectId }));
    for (let i = 0; i < 70; i++) await request(app).get('/v1/test/whoami').set('authorization', dirk).expect(200);
    // two leases of 50 (a twentieth of 1,200, at most 50): the bucket gave 100, the replica holds 30 of them
    const { rows } = await database.db.query<{ tokens: number; granted: number }>(
      'SELECT tokens, granted FROM rate_limit_bucket WHERE key = $1',
      [`staff:${subjectId}`],
    );
    expect(rows[0].granted).toBe(50);
    expect(rows[0].tokens).toBeGreaterThanOrEqual(1100);
    expect(rows[0].tokens).toBeLessThan(1110);

    let now = Date.now();
    const { app: small } = replicaOn(database.db, { RATE_LIMIT_PER_USER: '6' }, () => now);
    const eva = `staff:${randomUUID()}`;
    const evaToken = bearer(staff({ subjectId: eva.slice('staff:'.length) }));
    for (let i = 0; i < 6; i++) await request(small).get('/v1/test/whoami').set('authorization', evaToken).expect(200);
    await request(small).get('/v1/test/whoami').set('authorization', evaToken).expect(429);
    // 20 s later (for the database and the replica) the bucket holds 2 more (6 a minute)
    await database.db.query(
      "UPDATE rate_limit_bucket SET updated_at = updated_at - interval '20 seconds' WHERE key = $1",
      [eva],
    );
    now += 20_000;
    await request(small).get('/v1/test/whoami').set('authorization', evaToken).expect(200);
    await request(small).get('/v1/test/whoami').set('authorization', evaToken).expect(200);
    await request(small).get('/v1/test/whoami').set('authorization', evaToken).expect(429);
  });

  it('keep the buckets of addresses per replica, in memory: no row for them', async () => {
    const [a, b] = [replicaOn(database.db).app, replicaOn(database.db).app];
    for (const app of [a, b]) {
      await request(app).get('/v1/test/ping').expect(200);
      await request(app).get('/v1/test/ping').expect(200);
      await request(app).get('/v1/test/ping').expect(429);
    }
    const { rows } = await database.db.query("SELECT key FROM rate_limit_bucket WHERE key LIKE 'address:%'");
    expect(rows).toEqual([]);
  });
});

describe('rate limits shared by gateway replicas, with the database out of reach', () => {
  let telemetry: RecordedTelemetry;
  beforeAll(() => {
    telemetry = recordTelemetry();
  });
  afterAll(() => telemetry.stop());

  it('are counted by each replica on its own meanwhile, and the log says so once', async () => {
    const unreachable = new PgDatabase({
      connectionString: 'postgres://127.0.0.1:1/none',
      connectionTimeoutMillis: 2000,
    });
    let queries = 0;
    const counted: Database = {
      dialect: unreachable.dialect,
      query: (sql, params) => {
        queries++;
        return unreachable.query(sql, params);
      },
      transaction: (work) => unreachable.transaction(work),
      close: () => unreachable.close(),
    };
    try {
      const { app, logs } = replicaOn(counted, { RATE_LIMIT_PER_USER: '3' });
      const frank = bearer(staff({ subjectId: randomUUID() }));
      const statuses = [];
      for (let i = 0; i < 5; i++)
        statuses.push((await request(app).get('/v1/test/whoami').set('authorization', frank)).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      const warnings = logs().filter((line) => String(line.msg).startsWith('shared rate limits unavailable'));
      expect(warnings).toHaveLength(1);
      // it asked the database for one lease (and once to delete full buckets), then counted on its own without
      // waiting for it again
      expect(queries).toBe(2);
      const [alone] = await telemetry.points('kantoor.gateway.rate_limit.unshared_decisions');
      expect(alone.value).toBe(5);
    } finally {
      await unreachable.close();
    }
  });
});
