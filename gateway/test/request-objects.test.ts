import request from 'supertest';
import { defineRoute } from '../src';
import type { RouteContext } from '../src/openapi/route';
import { bearer, noDatabase, staff, testApp } from './helpers';

/**
 * The objects the gateway makes per request have their lazy parts as getters on a shared prototype, never as a
 * getter of an object literal: a literal's getter over a per-request closure gives every such object a hidden
 * class of its own in V8's old generation, which kept each request alive until a full collection
 * (README, "Throughput"). These fail when one of them becomes such a literal again.
 */
describe('per-request objects', () => {
  const ownAccessors = (value: object) =>
    Object.entries(Object.getOwnPropertyDescriptors(value))
      .filter(([, descriptor]) => descriptor.get !== undefined || descriptor.set !== undefined)
      .map(([name]) => name);

  test("a handler's context and the request's state have no getters of their own, and their loggers work", async () => {
    const seen: { context?: RouteContext; stateAccessors?: string[]; logged?: boolean } = {};
    const inspect = defineRoute({
      method: 'get',
      path: '/v1/test/context',
      operationId: 'inspectContext',
      summary: 'What a handler is given',
      tags: ['test'],
      auth: 'authenticated',
      permission: 'firm:read',
      responses: { 200: { description: 'done', schema: { type: 'object' } } },
      handler: (context) => {
        seen.context = context;
        seen.stateAccessors = ownAccessors(context.request.gateway);
        context.logger.info({ marker: 'from-the-handler' }, 'handler ran');
        seen.logged = context.logger === context.request.gateway.logger;
        return { requestId: context.requestId };
      },
    });
    const { app, logs } = testApp({ db: noDatabase }, [inspect]);
    const answer = await request(app).get('/v1/test/context').set('authorization', bearer(staff()));
    expect(answer.status).toBe(200);
    expect(ownAccessors(seen.context!)).toEqual([]);
    expect(seen.stateAccessors).toEqual([]);
    // the handler's logger is the request's own, made once, carrying its request id
    expect(seen.logged).toBe(true);
    const line = logs().find((entry) => entry.marker === 'from-the-handler');
    expect(line?.request_id).toBe(answer.body.requestId);
    expect(answer.headers['x-request-id']).toBe(answer.body.requestId);
  });
});
