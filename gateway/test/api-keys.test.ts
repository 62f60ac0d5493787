import request from 'supertest';
import { describeEachDatabase, type TestDatabase } from '@kantoor/testing';
import { ApiKeyStore, defineRoute, routeTable } from '../src';
import { VERIFIED_KEY_TTL_MS } from '../src/auth/api-keys';
import { bearer, openMigratedDatabase, problemType, staff, testApp, whoAmI } from './helpers';

const readDossiers = defineRoute({
  method: 'get',
  path: '/v1/test/dossiers',
  operationId: 'listTestDossiers',
  summary: 'Needs dossier:read',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'dossier:read',
  responses: { 200: { description: 'ok' } },
  handler: ({ caller }) => ({ firmId: caller.firmId }),
});

describeEachDatabase('API keys', (open) => {
  let database: TestDatabase;
  let store: ApiKeyStore;
  beforeAll(async () => {
    database = await openMigratedDatabase(open);
    store = new ApiKeyStore(database.db);
  });
  afterAll(() => database.dispose());

  it('verifies a new key as a caller of its firm with its scopes, and stores only a hash of it', async () => {
    const { apiKey, key } = await store.create({
      firmId: 'firm-1',
      name: 'Exact sync',
      scopes: ['dossier:read', 'document:*'],
      createdBy: 'admin-1',
    });
    expect(key).toMatch(/^kntr_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(`kntr_${apiKey.prefix}_`)).toBe(true);
    await expect(store.verify(key)).resolves.toEqual({
      kind: 'api_key',
      subjectId: apiKey.id,
      firmId: 'firm-1',
      scopes: ['dossier:read', 'document:*'],
    });
    const { rows } = await database.db.query('SELECT * FROM api_keys WHERE id = $1', [apiKey.id]);
    // the secret is base64url and may itself hold "_": everything after the prefix
    const secret = key.slice(`kntr_${apiKey.prefix}_`.length);
    expect(secret).toHaveLength(43);
    expect(JSON.stringify(rows)).not.toContain(secret);
  });

  it('does not verify a key with a wrong secret, a malformed key or a revoked key', async () => {
    const { apiKey, key } = await store.create({
      firmId: 'firm-1',
      name: 'Portal',
      scopes: ['dossier:read'],
      createdBy: 'admin-1',
    });
    const wrongSecret = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    await expect(store.verify(wrongSecret)).resolves.toBeNull();
    await expect(store.verify('kntr_nope')).resolves.toBeNull();
    await expect(store.revoke('firm-2', apiKey.id, 'admin-2')).rejects.toMatchObject({ kind: 'not_found' });
    await expect(store.verify(key)).resolves.not.toBeNull();
    const revoked = await store.revoke('firm-1', apiKey.id, 'admin-2');
    expect(revoked.revokedAt).toBeInstanceOf(Date);
    await expect(store.verify(key)).resolves.toBeNull();
    expect(revoked).toMatchObject({ createdBy: 'admin-1', revokedBy: 'admin-2' });
    // revoking again changes nothing: the first revocation's time and revoker stay on record
    await expect(store.revoke('firm-1', apiKey.id, 'admin-1')).resolves.toMatchObject({
      revokedAt: revoked.revokedAt,
      revokedBy: 'admin-2',
    });
  });

  it('trusts a verified key for a few seconds, so a key revoked by another gateway is refused soon after', async () => {
    let now = Date.UTC(2026, 0, 5, 9);
    const here = new ApiKeyStore(database.db, () => now);
    const { apiKey, key } = await here.create({
      firmId: 'firm-1',
      name: 'Twinfield',
      scopes: ['dossier:read'],
      createdBy: 'admin-1',
    });
    await expect(here.verify(key)).resolves.toMatchObject({ subjectId: apiKey.id });
    await new ApiKeyStore(database.db).revoke('firm-1', apiKey.id, 'admin-1'); // through another replica
    now += VERIFIED_KEY_TTL_MS - 1;
    await expect(here.verify(key)).resolves.toMatchObject({ subjectId: apiKey.id });
    now += 1;
    await expect(here.verify(key)).resolves.toBeNull();
  });

  it('refuses keys without scopes or with malformed ones', async () => {
    await expect(store.create({ firmId: 'firm-1', name: 'x', scopes: [], createdBy: 'admin-1' })).rejects.toMatchObject(
      {
        reason: 'invalid_scopes',
      },
    );
    await expect(
      store.create({ firmId: 'firm-1', name: 'x', scopes: ['everything'], createdBy: 'admin-1' }),
    ).rejects.toMatchObject({
      reason: 'invalid_scopes',
    });
  });

  it('lets an admin manage keys over HTTP, and the key then works within its scopes only', async () => {
    const { app } = testApp({ db: database.db }, [...routeTable, whoAmI, readDossiers]);
    const admin = bearer(staff({ firmId: 'firm-http', subjectId: 'admin-1' }));
    const created = await request(app)
      .post('/v1/api-keys')
      .set('authorization', admin)
      .send({ name: 'Partner', scopes: ['dossier:read'] });
    expect(created.status).toBe(201);
    const { key, apiKey } = created.body;

    const allowed = await request(app).get('/v1/test/dossiers').set('x-api-key', key);
    expect(allowed.status).toBe(200);
    expect(allowed.body).toEqual({ firmId: 'firm-http' });
    const outOfScope = await request(app).get('/v1/test/whoami').set('x-api-key', key);
    expect(outOfScope.status).toBe(403);
    expect(outOfScope.body.type).toBe(problemType('missing-scope'));
    const keysCannotManageKeys = await request(app).get('/v1/api-keys').set('x-api-key', key);
    expect(keysCannotManageKeys.status).toBe(403);

    expect(apiKey).toMatchObject({ createdBy: 'admin-1', revokedBy: null });
    const listed = await request(app).get('/v1/api-keys').set('authorization', admin).expect(200);
    expect(listed.body.items).toEqual([{ ...apiKey, revokedAt: null }]);
    expect(JSON.stringify(listed.body)).not.toContain(key);

    const otherFirm = await request(app)
      .delete(`/v1/api-keys/${apiKey.id}`)
      .set('authorization', bearer(staff({ firmId: 'firm-other' })));
    expect(otherFirm.status).toBe(404);
    const secondAdmin = bearer(staff({ firmId: 'firm-http', subjectId: 'admin-2' }));
    const revoked = await request(app).delete(`/v1/api-keys/${apiKey.id}`).set('authorization', secondAdmin);
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ createdBy: 'admin-1', revokedBy: 'admin-2' });
    const afterRevoke = await request(app).get('/v1/test/dossiers').set('x-api-key', key);
    expect(afterRevoke.status).toBe(401);
    expect(afterRevoke.body.type).toBe(problemType('invalid-api-key'));
  });

  it('lists the keys a page at a time, oldest first, each once, and refuses a cursor it did not give out', async () => {
    const { app } = testApp({ db: database.db }, routeTable);
    const admin = bearer(staff({ firmId: 'firm-pages', subjectId: 'admin-p' }));
    const names: string[] = [];
    for (let i = 1; i <= 5; i++) {
      names.push(`Feed ${i}`);
      await request(app)
        .post('/v1/api-keys')
        .set('authorization', admin)
        .send({ name: `Feed ${i}`, scopes: ['dossier:read'] })
        .expect(201);
    }
    const seen: string[] = [];
    const cursors: string[] = [];
    let cursor = '';
    do {
      const page = await request(app)
        .get('/v1/api-keys')
        .query({ pageSize: 2, ...(cursor && { cursor }) })
        .set('authorization', admin)
        .expect(200);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.body.items.map((key: { name: string }) => key.name));
      cursor = page.body.nextCursor;
      cursors.push(cursor);
    } while (cursor);
    expect(seen).toEqual(names);
    expect(cursors).toHaveLength(3);
    expect(cursors.at(-1)).toBe('');

    const whole = await request(app).get('/v1/api-keys').set('authorization', admin).expect(200);
    expect(whole.body.items.map((key: { name: string }) => key.name)).toEqual(names);
    expect(whole.body.nextCursor).toBe('');

    for (const bad of ['not-a-cursor', Buffer.from('["yesterday","x"]').toString('base64url')]) {
      const refused = await request(app).get('/v1/api-keys').query({ cursor: bad }).set('authorization', admin);
      expect(refused.status).toBe(400);
      expect(refused.body.type).toBe(problemType('invalid-cursor'));
    }
    const tooMany = await request(app).get('/v1/api-keys').query({ pageSize: 500 }).set('authorization', admin);
    expect(tooMany.status).toBe(400);
  });

  it('lets only admins manage keys, and under an Idempotency-Key makes a key once without keeping it', async () => {
    const { app } = testApp({ db: database.db }, routeTable);
    const employee = await request(app)
      .post('/v1/api-keys')
      .set('authorization', bearer(staff({ role: 'employee' })))
      .send({ name: 'x', scopes: ['dossier:read'] });
    expect(employee.status).toBe(403);

    const admin = bearer(staff({ firmId: 'firm-once', subjectId: 'admin-once' }));
    const create = (body: object) =>
      request(app).post('/v1/api-keys').set('authorization', admin).set('idempotency-key', 'create-key-1').send(body);
    const first = await create({ name: 'Exact', scopes: ['dossier:read'] });
    expect(first.status).toBe(201);
    const { apiKey, key } = first.body;

    // the connection dropped; the partner sends the same request again: no second key, and no secret replayed
    const repeat = await create({ name: 'Exact', scopes: ['dossier:read'] });
    expect(repeat.status).toBe(409);
    expect(repeat.body.type).toBe(problemType('idempotent-answer-not-kept'));
    expect(repeat.body.detail).toContain(apiKey.id);
    expect(JSON.stringify(repeat.body)).not.toContain(key);
    const listed = await request(app).get('/v1/api-keys').set('authorization', admin).expect(200);
    expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([apiKey.id]);

    const otherBody = await create({ name: 'Exact 2', scopes: ['dossier:read'] });
    expect(otherBody.status).toBe(422);
    expect(otherBody.body.type).toBe(problemType('idempotency-key-reused'));

    const { rows } = await database.db.query<{ response_body: Uint8Array }>(
      `SELECT response_body FROM idempotency_keys WHERE key = 'create-key-1'`,
    );
    expect(rows).toHaveLength(1);
    const secret = key.slice(`kntr_${apiKey.prefix}_`.length);
    expect(Buffer.from(rows[0].response_body).toString()).not.toContain(secret);
  });

  it('refuses a request carrying both a bearer token and an API key', async () => {
    const { app } = testApp({ db: database.db });
    const { key } = await store.create({ firmId: 'firm-1', name: 'both', scopes: ['firm:read'], createdBy: 'admin-1' });
    const response = await request(app)
      .get('/v1/test/whoami')
      .set('x-api-key', key)
      .set('authorization', bearer(staff()));
    expect(response.status).toBe(401);
    expect(response.body.type).toBe(problemType('ambiguous-credentials'));
  });
});
