/**
 * A unary call is answered when its message arrives, not when the status after it does (client.ts): a grpc-js
 * server's status leaves one event-loop turn of the server after the message. Here a raw node:http2 peer
 * plays the server and decides when (and whether) its message and trailers go out.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { startTelemetry } from '@kantoor/telemetry';
import {
  Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from '@kantoor/proto/grpc/health/v1/health_pb';
import { createServiceClient, systemCaller } from '@kantoor/grpc';
import { eventually } from '@kantoor/testing';

const SERVING = toBinary(
  HealthCheckResponseSchema,
  create(HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }),
);

/** a gRPC length-prefixed message */
const framed = (bytes: Uint8Array) => {
  const frame = Buffer.alloc(5 + bytes.length);
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  return frame;
};

interface Exchange {
  stream: http2.ServerHttp2Stream;
  /** sends the status as trailers (the message, if any, went first) */
  sendStatus(code: number, message?: string): void;
}

/** A peer that answers each call with `body` (or no message) and holds the trailers until the test sends them. */
async function peer(body: Uint8Array | undefined) {
  const exchanges: Exchange[] = [];
  const waiting: ((exchange: Exchange) => void)[] = [];
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  server.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      const trailersReady = new Promise<void>((resolve) => stream.once('wantTrailers', resolve));
      const exchange: Exchange = {
        stream,
        sendStatus: (code, message = '') =>
          void trailersReady.then(() => stream.sendTrailers({ 'grpc-status': String(code), 'grpc-message': message })),
      };
      if (body) stream.write(framed(body));
      stream.end();
      const next = waiting.shift();
      if (next) next(exchange);
      else exchanges.push(exchange);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    /** the next call the peer has answered (message sent, status held) */
    next: () =>
      new Promise<Exchange>((resolve) => {
        const ready = exchanges.shift();
        if (ready) resolve(ready);
        else waiting.push(resolve);
      }),
    close: async () => {
      for (const session of sessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** 'answered' or 'refused' once the promise settles, or 'pending' while it has not after a few turns */
async function stateOf(promise: Promise<unknown>): Promise<string> {
  let state = 'pending';
  promise.then(
    () => (state = 'answered'),
    () => (state = 'refused'),
  );
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setTimeout(resolve, 10));
  return state;
}

/** A Health client of a peer that answers with `body` (or no message), for the time of `run`. */
async function withPeer(
  body: Uint8Array | undefined,
  run: (
    server: Awaited<ReturnType<typeof peer>>,
    client: ReturnType<typeof createServiceClient<typeof Health>>,
  ) => Promise<void>,
): Promise<void> {
  const server = await peer(body);
  const client = createServiceClient(Health, server.address);
  try {
    await run(server, client);
  } finally {
    client.close();
    await server.close();
  }
}

/** the RST_STREAM code the stream ended with (NO_ERROR when it ended with its status) */
const closeCode = ({ stream }: Exchange) =>
  new Promise<number>((resolve) => stream.once('close', () => resolve(stream.rstCode)));

describe('a unary call is answered when its message arrives', () => {
  const caller = systemCaller('test');

  test('the answer comes before the status, which still ends the call and records its duration', async () => {
    const telemetry = startTelemetry({ serviceName: 'unary-answer-test', instrumentations: false });
    /** the status codes of the client calls whose duration was recorded, with how many each */
    const recorded = async () =>
      [...(await telemetry.prometheusText!()).matchAll(/^rpc_client_duration_count\{([^}]*)\} (\d+)/gm)].map(
        ([, labels, count]) => `${/rpc_grpc_status_code="(\d+)"/.exec(labels)?.[1]}: ${count}`,
      );
    try {
      await withPeer(SERVING, async (server, client) => {
        const answer = client.check({ service: '' }, { caller });
        const exchange = await server.next();
        // the status is held back: the message alone answers the call
        await expect(answer).resolves.toMatchObject({ status: HealthCheckResponse_ServingStatus.SERVING });
        // the call's duration is recorded with its status, which has not come yet
        expect(await recorded()).toEqual([]);
        exchange.sendStatus(0);
        expect(await eventually(recorded, (codes) => codes.length > 0, 2_000)).toEqual(['0: 1']);
      });
    } finally {
      await telemetry.shutdown();
    }
  });

  test('leaving after the answer does not cancel the call: the stream ends with its status, not a reset', () =>
    withPeer(SERVING, async (server, client) => {
      const leaving = new AbortController();
      const answer = client.check({ service: '' }, { caller, signal: leaving.signal });
      const exchange = await server.next();
      await answer;
      leaving.abort();
      const closed = closeCode(exchange);
      exchange.sendStatus(0);
      expect(await closed).toBe(http2.constants.NGHTTP2_NO_ERROR);
    }));

  test('leaving before the answer still cancels the call', () =>
    withPeer(undefined, async (server, client) => {
      const leaving = new AbortController();
      const answer = client.check({ service: '' }, { caller, signal: leaving.signal });
      const closed = closeCode(await server.next());
      leaving.abort();
      expect(await closed).toBe(http2.constants.NGHTTP2_CANCEL);
      await expect(answer).rejects.toMatchObject({ kind: 'unavailable' });
    }));

  test('a call that ends without a message is refused, with the status it ended with', () =>
    withPeer(undefined, async (server, client) => {
      const refusedAsOk = client.check({ service: '' }, { caller });
      const first = await server.next();
      // no message and no status yet: nothing is decided
      expect(await stateOf(refusedAsOk)).toBe('pending');
      first.sendStatus(0);
      // an OK status without a message is not an answer
      await expect(refusedAsOk).rejects.toMatchObject({ kind: 'internal', message: 'No message received' });

      const refused = client.check({ service: '' }, { caller });
      (await server.next()).sendStatus(5, 'no such service');
      await expect(refused).rejects.toMatchObject({ kind: 'not_found', message: 'no such service' });
    }));

  // field 1 (the status enum) written as a length-delimited field: not a HealthCheckResponse
  test('a message that is not the answer type refuses the call (internal) instead of answering it', () =>
    withPeer(Uint8Array.from([0x0a, 0x02, 0x01, 0x02]), async (server, client) => {
      const answer = client.check({ service: '' }, { caller });
      await server.next();
      await expect(answer).rejects.toMatchObject({ kind: 'internal' });
      await expect(answer).rejects.toThrow(/Response message parsing error/);
    }));
});
