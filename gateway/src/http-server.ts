import http, { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Express } from 'express';

/**
 * The gateway's HTTP server for an Express app, whose requests and responses are created as Express's own
 * request and response objects.
 *
 * Express gives each request and response its app's prototypes with `Object.setPrototypeOf` when the request
 * arrives. Changing the prototype of a live object is costly in V8, and it also kept every request's objects
 * alive through the young-generation collections until the next full collection (measured with
 * `--trace-gc-nvp`: a bare Express 5 app promoted 30% of what it allocated to the old generation, and the
 * gateway 25–41%). With the objects born with those prototypes Express's call changes nothing (same prototype),
 * and nothing is promoted: a bare Express app went from 12,100 to 37,800 requests/s on the development machine, and
 * the embedded gateway's GET /v1/firm from 1,780–1,870 to 2,125–2,170 (alternated runs, 2026-12-03).
 */
export function createHttpServer(app: Express): http.Server {
  // node:http's IncomingMessage and ServerResponse are plain constructor functions: called on the object that
  // `new ExpressRequest(...)` made (prototype app.request), they set it up as `new IncomingMessage(...)` would.
  // (Reflect.construct with another new.target does the same but was slower than Express's own way.)
  if (!callableConstructor(IncomingMessage) || !callableConstructor(ServerResponse)) return http.createServer(app);
  function ExpressRequest(this: IncomingMessage, socket: Socket): void {
    (IncomingMessage as unknown as PlainConstructor).call(this, socket);
  }
  ExpressRequest.prototype = app.request;
  function ExpressResponse(this: ServerResponse, request: IncomingMessage, options?: unknown): void {
    (ServerResponse as unknown as PlainConstructor).call(this, request, options);
  }
  ExpressResponse.prototype = app.response;
  return http.createServer(
    {
      IncomingMessage: ExpressRequest as unknown as typeof IncomingMessage,
      ServerResponse: ExpressResponse as unknown as typeof ServerResponse,
    },
    app,
  );
}

type PlainConstructor = (this: object, ...args: unknown[]) => void;

/** a constructor written as a function, not a class (which cannot be called on an existing object) */
function callableConstructor(constructor: unknown): boolean {
  return typeof constructor === 'function' && !/^class\b/.test(Function.prototype.toString.call(constructor));
}
