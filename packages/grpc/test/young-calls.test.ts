import { AsyncResource, executionAsyncId } from 'node:async_hooks';
import http2, { type Http2Session } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@kantoor/logging';
import { Health, HealthCheckResponse_ServingStatus } from '@kantoor/proto/grpc/health/v1/health_pb';
import { createServiceClient, GrpcServer, type Caller } from '@kantoor/grpc';
import { eventually } from '@kantoor/testing';
import { IdentitySet, IntegerKeyMap, youngCalls, youngSessionStreams, youngTransportCalls } from '../src/young-calls';

const system: Caller = { kind: 'system', subjectId: 'test', firmId: '', scopes: [] };

/** a small deterministic generator, so that a failure can be replayed */
function random(seed: number) {
  let state = seed;
  return (below: number) => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return state % below;
  };
}

describe('IntegerKeyMap (HTTP/2 streams by id)', () => {
  test('answers as a Map does through thousands of random sets and deletes, growing past its first size', () => {
    const next = random(7);
    const ours = new IntegerKeyMap<string>(8);
    const reference = new Map<number, string>();
    for (let step = 0; step < 20_000; step++) {
      // odd ids as a client's streams have, clustered so that they collide, and a few far apart
      const key = step % 97 === 0 ? 0x7fffffff - next(1000) : 1 + 2 * next(600);
      if (next(3) === 0) expect(ours.delete(key)).toBe(reference.delete(key));
      else {
        ours.set(key, `v${step}`);
        reference.set(key, `v${step}`);
      }
      if (step % 500 === 0)
        for (const probe of [key, key + 2, 1 + 2 * next(600)]) {
          expect(ours.get(probe)).toBe(reference.get(probe));
          expect(ours.has(probe)).toBe(reference.has(probe));
        }
      expect(ours.size).toBe(reference.size);
    }
    expect(new Map(ours.entries())).toEqual(reference);
    expect([...ours.keys()].sort()).toEqual([...reference.keys()].sort());
  });

  test('forEach visits what was there when it began, but not what an earlier callback removed', () => {
    const map = new IntegerKeyMap<string>();
    for (const id of [1, 3, 5, 7]) map.set(id, `stream ${id}`);
    const visited: number[] = [];
    map.forEach((_value, id) => {
      visited.push(id);
      // destroying a stream removes it, and node:http2 destroys them all from inside forEach
      map.delete(id);
      if (id === visited[0]) map.delete(visited[0] === 5 ? 7 : 5);
    });
    expect(visited).toHaveLength(3);
    expect(map.size).toBe(0);
  });

  test('refuses keys that are not stream ids', () => {
    const map = new IntegerKeyMap<string>();
    expect(() => map.set(-1, 'x')).toThrow(RangeError);
    expect(() => map.set(1.5, 'x')).toThrow(RangeError);
    expect(() => map.set(2 ** 31, 'x')).toThrow(RangeError);
    expect(map.size).toBe(0);
  });
});

describe('IdentitySet (calls and pending streams)', () => {
  test('answers as a Set does through thousands of random adds and deletes', () => {
    const next = random(11);
    const objects = Array.from({ length: 300 }, (_, index) => ({ index }));
    const ours = new IdentitySet<{ index: number }>();
    const reference = new Set<{ index: number }>();
    for (let step = 0; step < 20_000; step++) {
      const object = objects[next(objects.length)];
      if (next(2) === 0) expect(ours.delete(object)).toBe(reference.delete(object));
      else {
        ours.add(object);
        reference.add(object);
      }
      expect(ours.size).toBe(reference.size);
      expect(ours.has(object)).toBe(reference.has(object));
    }
    expect(new Set(ours)).toEqual(reference);
    ours.clear();
    expect(ours.size).toBe(0);
    expect(objects.some((object) => ours.has(object))).toBe(false);
  });

  test('an object can be in two sets at once, and iteration skips what an earlier step removed', () => {
    const a = new IdentitySet<object>();
    const b = new IdentitySet<object>();
    const [x, y, z] = [{}, {}, {}];
    a.add(x).add(y).add(z);
    b.add(z);
    a.delete(x);
    expect(b.has(z)).toBe(true);
    expect([...a]).toEqual([z, y]);
    const visited: object[] = [];
    for (const member of a) {
      visited.push(member);
      a.delete(y);
    }
    expect(visited).toEqual([z]);
  });
});

describe('what the gRPC path is given', () => {
  test('grpc-js client connections are wrapped (fails when an upgrade moves what is wrapped)', () => {
    expect(youngCalls.clientConnections).toBe(true);
  });

  test('a new HTTP/2 session gets young stream collections; one with streams, or not a session, is left alone', async () => {
    const server = http2.createServer((_request, response) => response.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    try {
      expect(youngSessionStreams(session)).toBe(true);
      const answered = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/' });
        let body = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (body += chunk));
        stream.on('end', () => resolve(body));
        stream.on('error', reject);
      });
      expect(answered).toBe('ok');

      const other = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      other.request({ ':path': '/' }).on('error', () => undefined);
      expect(youngSessionStreams(other)).toBe(false);
      other.destroy();
      expect(youngSessionStreams({} as Http2Session)).toBe(false);
      expect(youngTransportCalls({ activeCalls: new Set([{}]) })).toBe(false);
      const transport = { activeCalls: new Set() as unknown };
      expect(youngTransportCalls(transport)).toBe(true);
      expect(transport.activeCalls).toBeInstanceOf(IdentitySet);
    } finally {
      session.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  test("a GrpcServer's connections keep their streams in an IntegerKeyMap, and calls still work", async () => {
    const server = new GrpcServer({ logger: createLogger({ service: 'test', level: 'silent' }), services: [] });
    const port = await server.start('127.0.0.1', 0);
    const client = createServiceClient(Health, `127.0.0.1:${port}`);
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, () => client.check({ service: '' }, { caller: system })),
      );
      expect(answers.every((answer) => answer.status === HealthCheckResponse_ServingStatus.SERVING)).toBe(true);
      const internals = server as unknown as {
        server: { http2Servers: Map<unknown, { sessions: Set<Http2Session> }> };
      };
      const sessions = [...internals.server.http2Servers.values()].flatMap((entry) => [...entry.sessions]);
      expect(sessions.length).toBeGreaterThan(0);
      for (const session of sessions) {
        const state = Object.getOwnPropertySymbols(session).find((symbol) => symbol.description === 'state')!;
        const { streams, pendingStreams } = (session as unknown as Record<symbol, Record<string, unknown>>)[state];
        expect(streams).toBeInstanceOf(IntegerKeyMap);
        expect(pendingStreams).toBeInstanceOf(IdentitySet);
        // a unary call is answered at its message; its stream closes once the status after it is out
        const open = () => Promise.resolve((streams as IntegerKeyMap<unknown>).size);
        expect(await eventually(open, (size) => size === 0, 2_000)).toBe(0);
      }
    } finally {
      client.close();
      await server.stop();
    }
  });
});

describe('AsyncResource.prototype.bind', () => {
  test('runs the function in the resource, with its this, arguments and length, and names the resource', () => {
    const resource = new AsyncResource('TEST', { requireManualDestroy: true });
    const seen: Array<{ id: number; self: unknown; args: unknown[] }> = [];
    const fn = function (this: unknown, a: unknown, b: unknown) {
      seen.push({ id: executionAsyncId(), self: this, args: [a, b] });
      return 'result';
    };
    const bound = resource.bind(fn);
    const receiver = { name: 'receiver' };
    expect(bound.call(receiver, 1, 2)).toBe('result');
    // node's types leave out bind's second argument (thisArg), which node documents
    const withThis = (resource.bind as (f: typeof fn, thisArg: unknown) => (a: unknown, b: unknown) => unknown)(
      fn,
      receiver,
    );
    expect(withThis(3, 4)).toBe('result');
    expect(seen).toEqual([
      { id: resource.asyncId(), self: receiver, args: [1, 2] },
      { id: resource.asyncId(), self: receiver, args: [3, 4] },
    ]);
    expect(bound.length).toBe(2);
    expect((bound as typeof bound & { asyncResource: unknown }).asyncResource).toBe(resource);
    expect(() => resource.bind('not a function' as never)).toThrow(/must be of type function/);
  });

  const onNode20 = process.versions.node.startsWith('20.');
  (onNode20 ? test : test.skip)('on Node 20 it is replaced: a bound function is a plain function', () => {
    expect(youngCalls.asyncResourceBind).toBe(true);
    const bound = new AsyncResource('TEST', { requireManualDestroy: true }).bind(() => undefined);
    // node's own gave it an `asyncResource` accessor whose getter and setter were fresh functions wrapped by
    // util.deprecate, which changed each wrapper's prototype to the fresh function
    // (Function.prototype of the realm that installed it: jest gives each test file a realm of its own)
    const prototype = Object.getPrototypeOf(bound) as { constructor: { name: string; prototype: unknown } };
    expect(prototype.constructor.name).toBe('Function');
    expect(prototype.constructor.prototype).toBe(prototype);
    expect(typeof Object.getOwnPropertyDescriptor(bound, 'asyncResource')?.get).toBe('undefined');
  });
});
