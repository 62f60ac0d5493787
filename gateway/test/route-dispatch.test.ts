/**
 * Which operation a request reaches: the gateway looks routes up by method and path segments instead of
 * trying each route's pattern, and must still match as express did.
 */
import request from 'supertest';
import { defineRoute, type Route } from '../src';
import { noDatabase, problemType, testApp } from './helpers';

const echo = (method: Route['method'], path: string, operationId: string) =>
  defineRoute<{ params: Record<string, string> }>({
    method,
    path,
    operationId,
    summary: operationId,
    tags: ['test'],
    auth: 'public',
    request: {
      params: {
        type: 'object',
        properties: Object.fromEntries(
          [...path.matchAll(/\{([^}]+)\}/g)].map(([, name]) => [name, { type: 'string' }]),
        ),
      },
    },
    responses: { 200: { description: 'which route answered, with its parameters' } },
    handler: ({ params }) => ({ operationId, params }),
  });

// the literal route comes first in the table, so /v1/things/search is never taken for a thing's id
const routes = [
  echo('get', '/v1/things/search', 'searchThings'),
  echo('get', '/v1/things/{thingId}', 'getThing'),
  echo('delete', '/v1/things/{thingId}', 'deleteThing'),
  echo('get', '/v1/things/{thingId}/parts/{partId}', 'getPart'),
  echo('get', '/v1/things', 'listThings'),
];

describe('route dispatch', () => {
  const { app } = testApp({ db: noDatabase }, routes);

  it('takes the first route of the table that matches, literal segments before a parameter declared after them', async () => {
    expect((await request(app).get('/v1/things/search')).body).toEqual({ operationId: 'searchThings', params: {} });
    expect((await request(app).get('/v1/things/t-1')).body).toEqual({
      operationId: 'getThing',
      params: { thingId: 't-1' },
    });
    expect((await request(app).get('/v1/things')).body.operationId).toBe('listThings');
  });

  it('passes every path parameter by name, URL-decoded', async () => {
    const response = await request(app).get('/v1/things/a%20b/parts/%C3%A9t%C3%A9');
    expect(response.body).toEqual({ operationId: 'getPart', params: { thingId: 'a b', partId: 'été' } });
  });

  it('matches the method: the same path answers GET and DELETE with their own operations', async () => {
    expect((await request(app).delete('/v1/things/t-2')).body.operationId).toBe('deleteThing');
  });

  it('ignores the case of literal segments and one trailing slash, as express routing does', async () => {
    expect((await request(app).get('/V1/Things/T-3/')).body).toEqual({
      operationId: 'getThing',
      params: { thingId: 'T-3' },
    });
  });

  it('answers HEAD with the GET operation, without a body', async () => {
    const response = await request(app).head('/v1/things/t-4');
    expect(response.status).toBe(200);
    expect(response.text).toBeUndefined();
  });

  it('refuses a path parameter with a broken URL escape as invalid input', async () => {
    const response = await request(app).get('/v1/things/%E0%A4%A');
    expect(response.status).toBe(400);
    expect(response.body.type).toBe(problemType('malformed-path'));
    expect(response.body.errors).toEqual([{ field: 'path', message: 'is not valid URL encoding' }]);
  });

  it('does not take an empty segment for a parameter, nor a longer or shorter path for a route', async () => {
    expect((await request(app).get('/v1/things//parts/p')).status).toBe(404);
    expect((await request(app).get('/v1/things/t/parts')).status).toBe(404);
    expect((await request(app).get('/v1/things/t/parts/p/more')).status).toBe(404);
  });

  it('answers 405 with the allowed methods for a known path and another method', async () => {
    const response = await request(app).put('/v1/things/t-5');
    expect(response.status).toBe(405);
    expect(response.headers.allow).toBe('GET, HEAD, DELETE');
  });
});
