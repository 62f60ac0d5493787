import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createLogger } from '@kantoor/logging';
import { Health } from '@kantoor/proto/grpc/health/v1/health_pb';
import { createServiceClient, GrpcServer, systemCaller } from '@kantoor/grpc';
import { FLOW_CONTROL_WINDOW } from '../src/flow-control';

/** HTTP/2's own starting window, which grpc-js keeps unless told otherwise */
const DEFAULT_WINDOW = 65_535;

/** resolves once `read()` gives `expected` (or anything, without one), or with the last value after two seconds */
async function settled<T>(read: () => T, expected?: T): Promise<T> {
  const done = (value: T) => (expected === undefined ? value !== undefined : value === expected);
  const until = Date.now() + 2_000;
  let value = read();
  while (!done(value) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    value = read();
  }
  return value;
}

describe('HTTP/2 flow-control windows of gRPC connections (a streamed file does not wait a round trip per message)', () => {
  expect(FLOW_CONTROL_WINDOW).toBeGreaterThan(DEFAULT_WINDOW);

  test('a Kantoor server gives each stream and each connection the wide window', async () => {
    const server = new GrpcServer({ logger: createLogger({ service: 'test', level: 'silent' }), services: [] });
    const port = await server.start('127.0.0.1', 0);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
      // what each stream may send before the server acknowledges (an upload's chunks)
      expect(settings.initialWindowSize).toBe(FLOW_CONTROL_WINDOW);
      // what the whole connection may send
      expect(await settled(() => session.state.remoteWindowSize, FLOW_CONTROL_WINDOW)).toBe(FLOW_CONTROL_WINDOW);
    } finally {
      session.destroy();
      await server.stop(1_000);
    }
  });

  test('a Kantoor client gives each stream and its connection the wide window', async () => {
    const sessions: http2.ServerHttp2Session[] = [];
    const settingsSent: http2.Settings[] = [];
    const peer = http2.createServer();
    peer.on('session', (session) => {
      sessions.push(session);
      session.on('remoteSettings', (settings) => settingsSent.push(settings));
    });
    // the call itself is left unanswered: only the connection's settings matter here
    peer.on('stream', () => undefined);
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const client = createServiceClient(Health, `127.0.0.1:${(peer.address() as AddressInfo).port}`);
    const call = client.check({ service: '' }, { caller: systemCaller('test'), timeoutMs: 3_000 }).catch(() => null);
    try {
      const settings = await settled(() => settingsSent[0]);
      // what each stream may send before the client acknowledges (a download's chunks)
      expect(settings?.initialWindowSize).toBe(FLOW_CONTROL_WINDOW);
      // what the whole connection may send
      expect(await settled(() => sessions[0].state.remoteWindowSize, FLOW_CONTROL_WINDOW)).toBe(FLOW_CONTROL_WINDOW);
    } finally {
      client.close();
      for (const session of sessions) session.destroy();
      await call;
      await new Promise((resolve) => peer.close(resolve));
    }
  });
});
