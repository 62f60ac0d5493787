import request from 'supertest';
import { startTelemetry, type Telemetry } from '@kantoor/telemetry';
import { defineRoute } from '../src';
import { noDatabase, testApp } from './helpers';

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';

const slowEcho = defineRoute<{ body: { text: string } }>({
  method: 'post',
  path: '/v1/test/echo',
  operationId: 'echo',
  summary: 'Logs from inside the handler, after an await',
  tags: ['test'],
  auth: 'public',
  mutates: false,
  request: { body: { type: 'object', properties: { text: { type: 'string' } } } },
  responses: { 200: { description: 'echo' } },
  async handler({ body, logger }) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    logger.info({ event: 'echoing' }, 'echo handler ran');
    return body;
  },
});

let telemetry: Telemetry;
beforeAll(() => {
  telemetry = startTelemetry({ serviceName: 'kantoor-gateway-test', instrumentations: false });
});
afterAll(() => telemetry.shutdown());

describe('trace context', () => {
  it("continues the caller's W3C trace: every log line of the request carries its trace id and the request id", async () => {
    const { app, logs } = testApp({ db: noDatabase }, [slowEcho]);
    const response = await request(app)
      .post('/v1/test/echo')
      .set('traceparent', `00-${traceId}-00f067aa0ba902b7-01`)
      .set('x-request-id', 'req-trace-1')
      .send({ text: 'hallo' });
    expect(response.status).toBe(200);
    const lines = logs().filter((line) => line.request_id === 'req-trace-1');
    expect(lines.map((line) => line.msg)).toEqual(['echo handler ran', 'request answered']);
    for (const line of lines) expect(line.trace_id).toBe(traceId);
    expect(lines[1]).toMatchObject({ route: '/v1/test/echo', operation: 'echo', status: 200, method: 'POST' });
  });

  it('starts a trace of its own when the caller sends none, and ignores a malformed traceparent', async () => {
    const { app, logs } = testApp({ db: noDatabase }, [slowEcho]);
    await request(app)
      .post('/v1/test/echo')
      .set('x-request-id', 'req-trace-2')
      .set('traceparent', 'garbage')
      .send({ text: 'x' })
      .expect(200);
    await request(app).post('/v1/test/echo').set('x-request-id', 'req-trace-3').send({ text: 'x' }).expect(200);
    const traceIds = ['req-trace-2', 'req-trace-3'].map(
      (id) => logs().find((entry) => entry.request_id === id && entry.msg === 'request answered')?.trace_id,
    );
    for (const id of traceIds) expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set([...traceIds, traceId]).size).toBe(3);
  });

  it('serves Prometheus metrics at /metrics once telemetry runs', async () => {
    const { app } = testApp({ db: noDatabase });
    const response = await request(app).get('/metrics');
    expect(response.status).toBe(200);
    expect(response.text).toMatch(/target_info\{[^}]*service_name="kantoor-gateway-test"/);
  });
});
