import request from 'supertest';
import { describeEachDatabase, eventually, type TestDatabase } from '@kantoor/testing';
import { conflict } from '@kantoor/errors';
import { defineRoute, reply, IdempotencyStore, purgeExpiredKeys } from '../src';
import { bearer, openMigratedDatabase, problemType, staff, testApp } from './helpers';

let executions = 0;
let gate: Promise<void> | undefined;

const createTransfer = defineRoute<{ body: { amount: string; outcome?: 'crash' | 'refuse' } }>({
  method: 'post',
  path: '/v1/test/transfers',
  operationId: 'createTransfer',
  summary: 'Counts how often it really runs',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'transfer:write',
  request: {
    body: {
      type: 'object',
      required: ['amount'],
      properties: { amount: { type: 'string' }, outcome: { enum: ['crash', 'refuse'] } },
    },
  },
  responses: { 201: { description: 'created' } },
  async handler({ body }) {
    executions += 1;
    await gate;
    if (body.outcome === 'crash') throw new Error('downstream exploded');
    if (body.outcome === 'refuse') throw conflict('The period is closed.', { reason: 'period_closed' });
    return reply(201, { transfer: executions, amount: body.amount }, { location: `/v1/test/transfers/${executions}` });
  },
});

const uploadStatement = defineRoute({
  method: 'post',
  path: '/v1/test/statements',
  operationId: 'uploadStatement',
  summary: 'Streams, hashing as it goes',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'document:write',
  streaming: 'upload',
  bodyLimit: 1024 * 1024,
  responses: { 201: { description: 'stored' } },
  async handler({ upload }) {
    executions += 1;
    let bytes = 0;
    for await (const chunk of upload) bytes += (chunk as Buffer).length;
    return reply(201, { statement: executions, bytes });
  },
});

/** answers a secret shown once: a repeat learns that it was done, never the secret */
const issueVoucher = defineRoute<{ body: { owner: string; outcome?: 'refuse' } }>({
  method: 'post',
  path: '/v1/test/vouchers',
  operationId: 'issueVoucher',
  summary: 'Answers a secret once',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'voucher:write',
  idempotency: { answerNotKept: (answer: { id: string }) => `Voucher ${answer.id} was issued.` },
  request: {
    body: {
      type: 'object',
      required: ['owner'],
      properties: { owner: { type: 'string' }, outcome: { enum: ['refuse'] } },
    },
  },
  responses: { 201: { description: 'issued' } },
  async handler({ body }) {
    executions += 1;
    if (body.outcome === 'refuse') throw conflict('No vouchers this month.', { reason: 'no_vouchers' });
    return reply(201, { id: `voucher-${executions}`, secret: `s3cret-${executions}` });
  },
});

/** its body is a credential: a key is refused */
const redeemCode = defineRoute<{ body: { code: string } }>({
  method: 'post',
  path: '/v1/test/codes',
  operationId: 'redeemCode',
  summary: 'Takes a credential in its body',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'voucher:write',
  idempotency: false,
  request: { body: { type: 'object', required: ['code'], properties: { code: { type: 'string' } } } },
  responses: { 204: { description: 'redeemed' } },
  async handler() {
    executions += 1;
    return reply(204);
  },
});

describeEachDatabase('Idempotency-Key', (open) => {
  let database: TestDatabase;
  let now = Date.now();
  let app: ReturnType<typeof testApp>['app'];
  const anne = bearer(staff({ subjectId: 'anne' }));
  const bob = bearer(staff({ subjectId: 'bob' }));
  const post = (key: string, body: object, who = anne) =>
    request(app).post('/v1/test/transfers').set('authorization', who).set('idempotency-key', key).send(body);

  beforeAll(async () => {
    database = await openMigratedDatabase(open);
    app = testApp({ db: database.db, clock: () => now }, [
      createTransfer,
      uploadStatement,
      issueVoucher,
      redeemCode,
    ]).app;
  });
  afterAll(() => database.dispose());
  beforeEach(() => {
    executions = 0;
    gate = undefined;
    now = Date.now();
  });

  it('replays the first answer to a repeat with the same body, without running it again', async () => {
    const first = await post('pay-rent-2025-01', { amount: '850.00' });
    expect(first.status).toBe(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const repeat = await post('pay-rent-2025-01', { amount: '850.00' });
    expect(repeat.status).toBe(201);
    expect(repeat.body).toEqual(first.body);
    expect(repeat.headers.location).toBe(first.headers.location);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.headers['x-request-id']).not.toBe(first.headers['x-request-id']);
    expect(executions).toBe(1);
  });

  it('never keeps an answer holding a secret: a repeat learns it was done (409), a refusal replays as usual', async () => {
    const issue = (key: string, body: object) =>
      request(app).post('/v1/test/vouchers').set('authorization', anne).set('idempotency-key', key).send(body);
    const first = await issue('voucher-1', { owner: 'anne' });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: 'voucher-1', secret: 's3cret-1' });
    const repeat = await issue('voucher-1', { owner: 'anne' });
    expect(repeat.status).toBe(409);
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.body).toMatchObject({
      type: problemType('idempotent-answer-not-kept'),
      detail: expect.stringContaining('Voucher voucher-1 was issued.'),
    });
    expect(JSON.stringify(repeat.body)).not.toContain('s3cret');
    const { rows } = await database.db.query<{ response_body: Uint8Array }>(
      `SELECT response_body FROM idempotency_keys WHERE key = 'voucher-1'`,
    );
    expect(Buffer.from(rows[0].response_body).toString()).not.toContain('s3cret');
    expect((await issue('voucher-1', { owner: 'bob' })).status).toBe(422);

    const refused = await issue('voucher-2', { owner: 'anne', outcome: 'refuse' });
    expect(refused.status).toBe(409);
    expect(refused.body.type).toBe(problemType('no-vouchers'));
    const refusedAgain = await issue('voucher-2', { owner: 'anne', outcome: 'refuse' });
    expect(refusedAgain.body).toEqual(refused.body);
    expect(executions).toBe(2);
  });

  it('refuses an Idempotency-Key on a route whose body is a credential, and does not run it', async () => {
    const refused = await request(app)
      .post('/v1/test/codes')
      .set('authorization', anne)
      .set('idempotency-key', 'code-1')
      .send({ code: 'one-time-code' });
    expect(refused.status).toBe(400);
    expect(refused.body.type).toBe(problemType('idempotency-not-supported'));
    expect(executions).toBe(0);
    await request(app).post('/v1/test/codes').set('authorization', anne).send({ code: 'one-time-code' }).expect(204);
  });

  it('refuses the same key with a different body (422), and keeps keys of different callers apart', async () => {
    await post('pay-rent-2025-02', { amount: '850.00' }).expect(201);
    const changed = await post('pay-rent-2025-02', { amount: '8500.00' });
    expect(changed.status).toBe(422);
    expect(changed.body.type).toBe(problemType('idempotency-key-reused'));
    const otherCaller = await post('pay-rent-2025-02', { amount: '8500.00' }, bob);
    expect(otherCaller.status).toBe(201);
    expect(executions).toBe(2);
  });

  it('answers 409 to a repeat while the first is still running', async () => {
    let release!: () => void;
    gate = new Promise((resolve) => (release = resolve));
    const first = post('pay-rent-2025-03', { amount: '850.00' }).then((response) => response);
    while (executions === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const meanwhile = await post('pay-rent-2025-03', { amount: '850.00' });
    expect(meanwhile.status).toBe(409);
    expect(meanwhile.body.type).toBe(problemType('idempotency-key-in-progress'));
    expect(meanwhile.headers['retry-after']).toBe('1');
    release();
    expect((await first).status).toBe(201);
    expect((await post('pay-rent-2025-03', { amount: '850.00' })).headers['idempotent-replayed']).toBe('true');
    expect(executions).toBe(1);
  });

  it('stores a refusal like any answer, but releases the key after a failure on our side so a retry runs', async () => {
    const refused = await post('close-1', { amount: '1.00', outcome: 'refuse' });
    expect(refused.status).toBe(409);
    const refusedAgain = await post('close-1', { amount: '1.00', outcome: 'refuse' });
    expect(refusedAgain.headers['idempotent-replayed']).toBe('true');
    expect(refusedAgain.body).toEqual(refused.body);

    expect((await post('crash-1', { amount: '1.00', outcome: 'crash' })).status).toBe(500);
    expect(
      (await post('crash-1', { amount: '1.00', outcome: 'crash' })).headers['idempotent-replayed'],
    ).toBeUndefined();
    expect(executions).toBe(3);
  });

  it('forgets keys after 24 hours', async () => {
    await post('yearly', { amount: '1.00' }).expect(201);
    now += 23 * 3600 * 1000;
    expect((await post('yearly', { amount: '1.00' })).headers['idempotent-replayed']).toBe('true');
    now += 2 * 3600 * 1000;
    const later = await post('yearly', { amount: '2.00' });
    expect(later.status).toBe(201);
    expect(later.headers['idempotent-replayed']).toBeUndefined();
    const store = new IdempotencyStore(database.db, { clock: () => now + 25 * 3600 * 1000 });
    expect(await store.purgeExpired()).toBeGreaterThan(0);
  });

  it('deletes expired keys with their stored answers at start and every turn after, keeping the live ones', async () => {
    const keys = async () =>
      (await database.db.query<{ key: string }>("SELECT key FROM idempotency_keys WHERE subject = 'staff:carl'")).rows
        .map((row) => row.key)
        .sort();
    const at = (ms: number) => new IdempotencyStore(database.db, { clock: () => ms });
    const stored = { status: 201, headers: {}, body: Buffer.from('{"transfer":1}') };
    for (const [key, age] of [
      ['old', 30],
      ['older', 48],
      ['fresh', 1],
    ] as const) {
      const claim = await at(now - age * 3600 * 1000).claim('staff:carl', key, 'hash');
      if (claim.outcome !== 'claimed') throw new Error(`${key} was not claimed`);
      await at(now - age * 3600 * 1000).complete('staff:carl', key, claim.claimedAt, 'hash', stored);
    }
    const logged: object[] = [];
    const logger = { info: (fields: object) => logged.push(fields), warn: (fields: object) => logged.push(fields) };
    const purging = purgeExpiredKeys(at(now), logger as never, 20);
    try {
      expect(await eventually(keys, (found) => found.length === 1)).toEqual(['fresh']);
      expect(logged).toContainEqual({ deleted: expect.any(Number) });
      // a later turn deletes what expired since
      const late = await at(now - 30 * 3600 * 1000).claim('staff:carl', 'late', 'hash');
      expect(late.outcome).toBe('claimed');
      expect(await eventually(keys, (found) => found.length === 1)).toEqual(['fresh']);
    } finally {
      await purging.stop();
    }
  });

  it('takes over a key whose first request never finished (the gateway died meanwhile)', async () => {
    const store = new IdempotencyStore(database.db, { clock: () => now });
    await store.claim('staff:anne', 'orphan', 'some-hash');
    expect((await post('orphan', { amount: '1.00' })).status).toBe(409);
    now += 11 * 60 * 1000;
    expect((await post('orphan', { amount: '1.00' })).status).toBe(201);
  });

  it('refuses a malformed key', async () => {
    const response = await post('has spaces in it', { amount: '1.00' });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { field: 'header.Idempotency-Key', message: 'must be 1 to 255 visible ASCII characters' },
    ]);
  });

  it('works for streamed uploads, hashing the body as it streams', async () => {
    const upload = (key: string, content: string) =>
      request(app)
        .post('/v1/test/statements')
        .set('authorization', anne)
        .set('idempotency-key', key)
        .set('content-type', 'application/octet-stream')
        .send(Buffer.from(content));
    const first = await upload('statement-1', 'CODA 000000...'.repeat(1000));
    expect(first.status).toBe(201);
    const repeat = await upload('statement-1', 'CODA 000000...'.repeat(1000));
    expect(repeat.headers['idempotent-replayed']).toBe('true');
    expect(repeat.body).toEqual(first.body);
    expect((await upload('statement-1', 'another statement')).status).toBe(422);
    expect(executions).toBe(1);
  });
});
