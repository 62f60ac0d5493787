import request from 'supertest';
import { defineRoute, namedSchema, reply } from '../src';
import { bearer, noDatabase, problemType, staff, testApp } from './helpers';

const Line = namedSchema('InvoiceLine', {
  type: 'object',
  additionalProperties: false,
  required: ['description', 'amount'],
  properties: {
    description: { type: 'string', minLength: 1 },
    amount: { type: 'string', pattern: '^-?\\d+\\.\\d{2}$' },
  },
});

const seen: unknown[] = [];

const createInvoice = defineRoute<{
  params: { dossierId: string };
  query: { limit: number; tags?: string[] };
  body: unknown;
}>({
  method: 'post',
  path: '/v1/dossiers/{dossierId}/invoices',
  operationId: 'createTestInvoice',
  summary: 'Validation under test',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'invoice:write',
  request: {
    params: { type: 'object', required: ['dossierId'], properties: { dossierId: { type: 'string', format: 'uuid' } } },
    query: {
      type: 'object',
      additionalProperties: false,
      properties: {
        limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 },
        tags: { type: 'array', items: { type: 'string' } },
      },
    },
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['customerEmail', 'lines'],
      properties: {
        customerEmail: { type: 'string', format: 'email' },
        lines: { type: 'array', minItems: 1, items: Line },
      },
    },
  },
  responses: {
    201: {
      description: 'created',
      schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } },
    },
  },
  handler: ({ params, query, body }) => {
    seen.push({ params, query, body });
    return reply(201, { id: 'inv-1' });
  },
});

const misbehaving = defineRoute({
  method: 'get',
  path: '/v1/test/misbehaving',
  operationId: 'misbehaving',
  summary: 'Answers against its own schema',
  tags: ['test'],
  auth: 'public',
  responses: {
    200: {
      description: 'ok',
      schema: { type: 'object', required: ['total'], properties: { total: { type: 'string' } } },
    },
  },
  handler: () => ({ total: 12.5 }),
});

const dossier = '1b4e28ba-2fa1-41d2-883f-0016d3cca427';
const validBody = { customerEmail: 'klant@example.be', lines: [{ description: 'Jaarrekening', amount: '1250.00' }] };
const { app } = testApp({ db: noDatabase }, [createInvoice, misbehaving]);
const auth = bearer(staff());

describe('requests are validated against the route table', () => {
  beforeEach(() => (seen.length = 0));

  it('lists every invalid field of path, query and body in one answer', async () => {
    const response = await request(app)
      .post('/v1/dossiers/not-a-uuid/invoices?limit=500&colour=red')
      .set('authorization', auth)
      .send({ customerEmail: 'not-an-email', lines: [{ description: '', amount: '12,50' }, {}], discount: 5 });
    expect(response.status).toBe(400);
    expect(response.body.type).toBe(problemType('validation-failed'));
    const fields = response.body.errors.map(
      (error: { field: string; message: string }) => `${error.field}: ${error.message}`,
    );
    expect(fields).toEqual(
      expect.arrayContaining([
        'params.dossierId: must match format "uuid"',
        'query.limit: must be <= 100',
        'query.colour: is not allowed',
        'body.customerEmail: must match format "email"',
        'body.lines[0].description: must NOT have fewer than 1 characters',
        'body.lines[0].amount: must match pattern "^-?\\d+\\.\\d{2}$"',
        'body.lines[1].description: is required',
        'body.lines[1].amount: is required',
        'body.discount: is not allowed',
      ]),
    );
    expect(seen).toHaveLength(0);
  });

  it('lists at most 100 mistakes, and of a large body its first, in moments', async () => {
    const post = (body: object) =>
      request(app).post(`/v1/dossiers/${dossier}/invoices`).set('authorization', auth).send(body);
    const many = await post({ customerEmail: 'klant@example.be', lines: Array(3000).fill({}) });
    expect(many.status).toBe(400);
    expect(many.body.errors).toHaveLength(100);
    expect(many.body.errors[0]).toEqual({ field: 'body.lines[0].description', message: 'is required' });
    expect(many.body.detail).toBe('6000 fields are not valid (the first 100 are listed).');
    // 300,000 bad lines in 0.9 MB: listing all 600,000 mistakes took 1.2 s and overflowed the stack (a 500)
    const started = Date.now();
    const huge = await post({ customerEmail: 'klant@example.be', lines: Array(300_000).fill({}) });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(huge.status).toBe(400);
    expect(huge.body.errors).toEqual([{ field: 'body.lines[0].description', message: 'is required' }]);
    expect(seen).toHaveLength(0);
  });

  it('refuses a missing JSON body', async () => {
    const response = await request(app).post(`/v1/dossiers/${dossier}/invoices`).set('authorization', auth);
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([{ field: 'body', message: 'is required (application/json)' }]);
  });

  it('hands the handler coerced query values and defaults', async () => {
    const response = await request(app)
      .post(`/v1/dossiers/${dossier}/invoices?tags=a`)
      .set('authorization', auth)
      .send(validBody);
    expect(response.status).toBe(201);
    expect(response.body).toEqual({ id: 'inv-1' });
    expect(seen).toEqual([{ params: { dossierId: dossier }, query: { limit: 20, tags: ['a'] }, body: validBody }]);

    await request(app)
      .post(`/v1/dossiers/${dossier}/invoices?limit=7`)
      .set('authorization', auth)
      .send(validBody)
      .expect(201);
    expect((seen[1] as { query: unknown }).query).toEqual({ limit: 7 });
  });

  it('checks authentication before validation, so strangers learn nothing about the input rules', async () => {
    const response = await request(app).post('/v1/dossiers/not-a-uuid/invoices').send({});
    expect(response.status).toBe(401);
  });

  it('catches a response that breaks its schema when response validation is on, and only then', async () => {
    const checking = testApp({ db: noDatabase }, [misbehaving], { VALIDATE_RESPONSES: 'true' });
    const refused = await request(checking.app).get('/v1/test/misbehaving');
    expect(refused.status).toBe(500);
    expect(refused.text).not.toContain('total');
    expect(
      checking
        .logs()
        .some((line) => String((line.err as { message?: string })?.message).includes('response.total must be string')),
    ).toBe(true);

    const lenient = await request(app).get('/v1/test/misbehaving');
    expect(lenient.status).toBe(200);
  });
});
