import request from 'supertest';
import { conflict, DomainError, kindFromGrpcStatus } from '@kantoor/errors';
import { defineRoute, type ServiceClients } from '../src';
import { bearer, noDatabase, problemType, staff, testApp } from './helpers';

const failing = defineRoute<{ query: { how?: string } }>({
  method: 'post',
  path: '/v1/test/fail',
  operationId: 'fail',
  summary: 'Fails as asked',
  tags: ['test'],
  auth: 'public',
  request: {
    query: { type: 'object', additionalProperties: false, properties: { how: { type: 'string' } } },
    body: { type: 'object' },
  },
  responses: { 200: { description: 'never' } },
  handler: ({ query }) => {
    if (query.how === 'domain') throw conflict('The dossier is closed.', { reason: 'dossier_closed' });
    if (query.how === 'internal') throw new DomainError('internal', 'pool exhausted at db-3.internal:5432');
    throw new Error('password=hunter2 at /srv/app/secret.ts:12');
  },
});

const { app, logs } = testApp({ db: noDatabase }, [failing]);

describe('every error is answered as problem+json', () => {
  it('answers an unknown path with 404 route-not-found, carrying the request id', async () => {
    const response = await request(app).get('/v1/nothing-here').set('x-request-id', 'client-chosen-42');
    expect(response.status).toBe(404);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.headers['x-request-id']).toBe('client-chosen-42');
    expect(response.body).toEqual({
      type: problemType('route-not-found'),
      title: 'Not found',
      status: 404,
      detail: 'There is no operation at /v1/nothing-here.',
      requestId: 'client-chosen-42',
    });
  });

  it('answers a known path with another method with 405 and Allow', async () => {
    const response = await request(app).get('/v1/test/fail');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('POST');
    expect(response.body.type).toBe(problemType('method-not-allowed'));
  });

  it("gives a domain refusal its stable type from the error's reason", async () => {
    const response = await request(app).post('/v1/test/fail?how=domain').send({});
    expect(response.status).toBe(409);
    expect(response.body).toMatchObject({
      type: problemType('dossier-closed'),
      status: 409,
      detail: 'The dossier is closed.',
    });
  });

  it('leaks neither message nor stack of an unexpected error, but logs it with the request id', async () => {
    for (const how of ['internal', 'plain']) {
      const response = await request(app).post(`/v1/test/fail?how=${how}`).send({});
      expect(response.status).toBe(500);
      expect(response.body).toEqual({
        type: problemType('internal'),
        title: 'Internal error',
        status: 500,
        detail: 'An unexpected error occurred.',
        requestId: response.headers['x-request-id'],
      });
      expect(response.text).not.toMatch(/hunter2|db-3|secret\.ts|stack/);
      const logged = logs().find(
        (line) => line.request_id === response.headers['x-request-id'] && line.msg === 'request failed',
      );
      expect(logged).toBeDefined();
    }
  });

  it('refuses malformed JSON, a wrong media type and an oversized body, each with its own type', async () => {
    const malformed = await request(app).post('/v1/test/fail').set('content-type', 'application/json').send('{"a":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.type).toBe(problemType('malformed-json'));

    const wrongType = await request(app).post('/v1/test/fail').set('content-type', 'text/plain').send('hello');
    expect(wrongType.status).toBe(415);
    expect(wrongType.body.type).toBe(problemType('unsupported-media-type'));

    const huge = await request(app)
      .post('/v1/test/fail')
      .send({ filler: 'x'.repeat(1_100_000) });
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({
      type: problemType('payload-too-large'),
      detail: 'The body may be at most 1048576 bytes.',
    });
  });

  it('keeps a sane X-Request-Id and replaces one that is not', async () => {
    const sane = await request(app).get('/nowhere').set('x-request-id', 'abc.DEF-123_4');
    expect(sane.headers['x-request-id']).toBe('abc.DEF-123_4');
    const insane = await request(app).get('/nowhere').set('x-request-id', 'x'.repeat(500));
    expect(insane.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(insane.body.requestId).toBe(insane.headers['x-request-id']);
  });

  it('refuses a request without credentials on an authenticated route with 401 and WWW-Authenticate', async () => {
    const { app: authApp } = testApp({ db: noDatabase });
    const response = await request(authApp).get('/v1/test/whoami');
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(response.body.type).toBe(problemType('authentication-required'));
    const ok = await request(authApp).get('/v1/test/whoami').set('authorization', bearer(staff()));
    expect(ok.status).toBe(200);
  });

  it("answers a service's refusal (a DomainError from its gRPC client) with the same problem type", async () => {
    type FirmClient = { getFirm(id: string, signal: AbortSignal): Promise<{ id: string }> };
    const getFirm = defineRoute<{ params: { firmId: string } }>({
      method: 'get',
      path: '/v1/firms/{firmId}',
      operationId: 'getTestFirm',
      summary: 'Asks the directory',
      tags: ['test'],
      auth: 'public',
      request: { params: { type: 'object', required: ['firmId'], properties: { firmId: { type: 'string' } } } },
      responses: { 200: { description: 'the firm' } },
      handler: ({ params, services, signal }) =>
        (services as unknown as { directory: FirmClient }).directory.getFirm(params.firmId, signal),
    });
    const directory: FirmClient = {
      async getFirm(id) {
        if (id === 'firm-1') return { id };
        // what the gRPC client throws for NOT_FOUND (status 5) with reason firm_not_found
        throw new DomainError(kindFromGrpcStatus(5), 'There is no such firm.', { reason: 'firm_not_found' });
      },
    };
    const { app: withServices } = testApp({ db: noDatabase, services: { directory } as unknown as ServiceClients }, [
      getFirm,
    ]);
    expect((await request(withServices).get('/v1/firms/firm-1')).body).toEqual({ id: 'firm-1' });
    const missing = await request(withServices).get('/v1/firms/firm-9');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ type: problemType('firm-not-found'), detail: 'There is no such firm.' });
  });
});
