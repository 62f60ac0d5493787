import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { unavailable } from '@kantoor/errors';
import { RequestsInFlight } from '../src/middleware/requests-in-flight';
import { defineRoute } from '../src/openapi/route';
import { bearer, noDatabase, staff, testApp } from './helpers';

/**
 * A gateway whose one route waits for the test, as a handler waits for a slow service, and then throws what
 * `leftError` gives once its client has left. A client calls it and hangs up; the server is closed (which waits
 * only for connections).
 */
async function clientLeavesSlowRequest(leftError: () => Error) {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let begin!: (signal: AbortSignal) => void;
  const begun = new Promise<AbortSignal>((resolve) => (begin = resolve));
  const route = defineRoute({
    method: 'get',
    path: '/v1/test/slow',
    operationId: 'slow',
    summary: 'Answers when the test says so',
    tags: ['test'],
    auth: 'authenticated',
    permission: 'firm:read',
    responses: { 200: { description: 'done', schema: { type: 'object' } } },
    handler: async ({ signal }) => {
      begin(signal);
      await released;
      if (signal.aborted) throw leftError();
      return {};
    },
  });
  const inFlight = new RequestsInFlight();
  const { app, logs } = testApp({ db: noDatabase, inFlight }, [route]);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const request = http.get({
    host: '127.0.0.1',
    port,
    path: '/v1/test/slow',
    headers: { authorization: bearer(staff()) },
  });
  request.on('error', () => undefined);
  const signal = await begun;
  request.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  return { inFlight, logs, release };
}

describe('a request whose client leaves before its answer', () => {
  test('shutdown waits for its handler after the last connection closed, and its cancelled call is no failure', async () => {
    // what a gRPC call under the request's signal throws once the client has left
    const left = await clientLeavesSlowRequest(() => unavailable('the service is not reachable (Cancelled on client)'));
    expect(left.inFlight.running).toBe(1);
    let idle = false;
    const idling = left.inFlight.idle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(idle).toBe(false);

    left.release();
    await idling;
    expect(left.inFlight.running).toBe(0);
    const lines = left.logs();
    expect(lines.filter((line) => line.level === 'warn' || line.level === 'error')).toEqual([]);
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'request answered', aborted: true }));
  });

  test('a defect in a handler whose client left is still reported', async () => {
    const left = await clientLeavesSlowRequest(() => new Error('a bug'));
    left.release();
    await left.inFlight.idle();
    expect(left.logs()).toContainEqual(expect.objectContaining({ level: 'error', msg: 'request failed' }));
  });
});
