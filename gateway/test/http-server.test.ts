import type { AddressInfo } from 'node:net';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import express from 'express';
import { createHttpServer } from '../src/http-server';

async function listening(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('the gateway HTTP server', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('creates requests and responses that are already Express objects, so Express changes no prototype', async () => {
    const app = express();
    app.set('trust proxy', 'loopback');
    app.post('/things/:id', express.json(), (request, response) => {
      response
        .status(201)
        .set('x-seen', 'yes')
        .json({
          id: request.params.id,
          query: request.query,
          body: request.body as unknown,
          ip: request.ip,
          sameApp: request.app === app && response.app === app,
        });
    });
    server = createHttpServer(app);
    const before: Array<[object | null, object | null]> = [];
    let prototypeChanges = 0;
    // runs before Express's own listener: what node:http made, before Express touched it
    server.prependListener('request', (request: IncomingMessage, response: ServerResponse) => {
      before.push([Object.getPrototypeOf(request), Object.getPrototypeOf(response)]);
    });
    const setPrototypeOf = Object.setPrototypeOf;
    const spy = jest.spyOn(Object, 'setPrototypeOf').mockImplementation((target: unknown, proto: object | null) => {
      if (Object.getPrototypeOf(target) !== proto) prototypeChanges += 1;
      return setPrototypeOf(target, proto) as unknown;
    });
    try {
      const base = await listening(server);
      const answer = await fetch(`${base}/things/42?kind=invoice`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ amount: '12.50' }),
      });
      expect(answer.status).toBe(201);
      expect(answer.headers.get('x-seen')).toBe('yes');
      expect(await answer.json()).toEqual({
        id: '42',
        query: { kind: 'invoice' },
        body: { amount: '12.50' },
        ip: '127.0.0.1',
        sameApp: true,
      });
    } finally {
      spy.mockRestore();
    }
    expect(before).toEqual([[app.request, app.response]]);
    expect(prototypeChanges).toBe(0);
  });

  it('answers many requests on one keep-alive connection and closes cleanly', async () => {
    const app = express();
    let served = 0;
    app.get('/count', (_request, response) => {
      served += 1;
      response.json({ served });
    });
    server = createHttpServer(app);
    const base = await listening(server);
    const answers = [];
    for (let i = 0; i < 20; i += 1) answers.push(await (await fetch(`${base}/count`)).json());
    expect(answers.at(-1)).toEqual({ served: 20 });
    server.closeAllConnections();
  });
});
