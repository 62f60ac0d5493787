import { createHash } from 'node:crypto';
import { Agent, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { notFound } from '@kantoor/errors';
import { defineRoute, reply, streamReply } from '../src';
import { bearer, noDatabase, problemType, staff, testApp } from './helpers';

const MB = 1024 * 1024;
let firstChunkSeen: () => void = () => undefined;
let handlerReceived = 0;

const uploadArchive = defineRoute({
  method: 'post',
  path: '/v1/test/archives',
  operationId: 'uploadArchive',
  summary: 'Reads the upload as it arrives',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'document:write',
  streaming: 'upload',
  bodyLimit: 64 * MB,
  request: { contentTypes: ['application/zip', 'application/octet-stream'] },
  responses: { 201: { description: 'received' } },
  async handler({ upload }) {
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of upload) {
      if (bytes === 0) firstChunkSeen();
      bytes += (chunk as Buffer).length;
      handlerReceived = bytes;
      hash.update(chunk as Buffer);
    }
    return reply(201, { bytes, sha256: hash.digest('hex') });
  },
});

const source = { produced: 0, destroyed: false, aborted: false };

const downloadExport = defineRoute<{ params: { megabytes: number } }>({
  method: 'get',
  path: '/v1/test/exports/{megabytes}',
  operationId: 'downloadExport',
  summary: 'Streams generated megabytes',
  tags: ['test'],
  auth: 'authenticated',
  permission: 'document:read',
  streaming: 'download',
  request: {
    params: { type: 'object', required: ['megabytes'], properties: { megabytes: { type: 'integer', minimum: 1 } } },
  },
  responses: { 200: { description: 'the export', contentType: 'application/zip' } },
  handler({ params, signal }) {
    signal.addEventListener('abort', () => (source.aborted = true));
    if (params.megabytes === 500) {
      // the service fails half-way: one megabyte out, then an error
      let sent = false;
      const failing = new Readable({
        read() {
          if (sent) return void setTimeout(() => this.destroy(new Error('archive node went away')), 50);
          sent = true;
          this.push(Buffer.alloc(MB));
        },
      });
      return streamReply({ body: failing, contentType: 'application/zip', contentLength: 10 * MB });
    }
    if (params.megabytes === 404) {
      // what a gRPC server stream does when the service refuses before sending anything
      const refused = new Readable({ read() {} });
      setImmediate(() => refused.destroy(notFound('There is no such export.', { reason: 'export_not_found' })));
      return streamReply({ body: refused, contentType: 'application/zip', filename: 'missing.zip' });
    }
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = params.megabytes * MB;
    const body = new Readable({
      read() {
        if (source.produced >= total) return void this.push(null);
        source.produced += chunk.length;
        this.push(chunk);
      },
      destroy(error, done) {
        source.destroyed = true;
        done(error);
      },
    });
    return streamReply({ body, contentType: 'application/zip', filename: 'export 2025.zip', contentLength: total });
  },
});

let server: Server;
let port: number;
const auth = bearer(staff());

beforeAll(async () => {
  const { app } = testApp({ db: noDatabase }, [uploadArchive, downloadExport]);
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => Object.assign(source, { produced: 0, destroyed: false, aborted: false }));

function send(path: string, headers: Record<string, string | number>, agent: Agent | false = false) {
  const outgoing = httpRequest({
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    agent,
    headers: { authorization: auth, ...headers },
  });
  const answer = new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
    let responded = false;
    outgoing.on('response', (incoming: IncomingMessage) => {
      responded = true;
      let body = '';
      incoming.setEncoding('utf8').on('data', (text: string) => (body += text));
      const done = () => resolve({ status: incoming.statusCode ?? 0, body, connection: incoming.headers.connection });
      incoming.on('end', done).on('error', done);
    });
    // once the answer is in, a failed write of the rest (the server stopped reading) no longer matters
    outgoing.on('error', (error) => (responded ? undefined : reject(error)));
  });
  return { outgoing, answer };
}

/** Writes with backpressure; a connection the server closed ends the waiting too. */
const write = (stream: NodeJS.WritableStream, chunk: Buffer) =>
  new Promise<void>((resolve) =>
    stream.write(chunk) ? resolve() : stream.once('drain', resolve).once('close', resolve),
  );

describe('streamed uploads', () => {
  it('reach the handler chunk by chunk: 50 MB go through without the gateway holding more than a few MB', async () => {
    const seen = new Promise<void>((resolve) => (firstChunkSeen = resolve));
    const { outgoing, answer } = send('/v1/test/archives', {
      'content-type': 'application/zip',
      'content-length': 50 * MB,
    });
    const chunk = Buffer.alloc(MB);
    const expected = createHash('sha256');
    handlerReceived = 0;
    let written = 0;
    let mostInFlight = 0;

    chunk.fill(1);
    await write(outgoing, chunk);
    written += MB;
    expected.update(chunk);
    // a gateway that buffered the body would not let the handler read anything before the client finished
    await Promise.race([
      seen,
      new Promise((_, reject) =>
        setTimeout(() => reject(new Error('the handler saw nothing of the first megabyte')), 5000),
      ),
    ]);
    for (let megabyte = 1; megabyte < 50; megabyte++) {
      chunk.fill(megabyte % 251);
      expected.update(chunk);
      await write(outgoing, chunk);
      written += MB;
      // what the client sent and the handler has not seen yet: socket buffers, never the body so far
      mostInFlight = Math.max(mostInFlight, written - handlerReceived);
    }
    outgoing.end();

    const { status, body } = await answer;
    expect(status).toBe(201);
    expect(JSON.parse(body)).toEqual({ bytes: 50 * MB, sha256: expected.digest('hex') });
    expect(mostInFlight).toBeLessThan(8 * MB);
  });

  it('refuses a body over the limit, declared or not, and a media type the route does not take', async () => {
    const declared = send('/v1/test/archives', { 'content-type': 'application/zip', 'content-length': 65 * MB });
    declared.outgoing.end();
    const refusedEarly = await declared.answer;
    expect(refusedEarly.status).toBe(413);
    expect(JSON.parse(refusedEarly.body).type).toBe(problemType('payload-too-large'));

    // keep-alive, as browsers do: with `Connection: close` Node closes as soon as it answered, and the
    // client's next write fails before it reads the answer
    const keepAlive = new Agent({ keepAlive: true });
    const chunked = send(
      '/v1/test/archives',
      { 'content-type': 'application/zip', 'transfer-encoding': 'chunked' },
      keepAlive,
    );
    const megabyte = Buffer.alloc(MB);
    let answered = false;
    chunked.outgoing.once('response', () => (answered = true));
    // like a browser: keeps sending until the answer arrives, then stops
    const writing = (async () => {
      for (let i = 0; i < 70 && !answered; i++) await write(chunked.outgoing, megabyte);
      chunked.outgoing.end();
    })();
    const refusedLate = await chunked.answer;
    expect(refusedLate.status).toBe(413);
    chunked.outgoing.destroy();
    await writing;

    const small = send('/v1/test/archives', { 'content-type': 'application/zip', 'content-length': 5 }, keepAlive);
    small.outgoing.end('hello');
    expect(await small.answer).toMatchObject({ status: 201, connection: 'keep-alive' });
    keepAlive.destroy();

    const wrongType = send('/v1/test/archives', { 'content-type': 'text/plain', 'content-length': 5 });
    wrongType.outgoing.end('hello');
    expect((await wrongType.answer).status).toBe(415);
  });
});

describe('streamed downloads', () => {
  function get(path: string) {
    return new Promise<IncomingMessage>((resolve, reject) => {
      httpRequest({ host: '127.0.0.1', port, path, agent: false, headers: { authorization: auth } }, resolve)
        .on('error', reject)
        .end();
    });
  }

  it('arrive whole, with their name and length', async () => {
    const incoming = await get('/v1/test/exports/5');
    expect(incoming.statusCode).toBe(200);
    expect(incoming.headers['content-type']).toBe('application/zip');
    expect(incoming.headers['content-length']).toBe(String(5 * MB));
    expect(incoming.headers['content-disposition']).toBe('attachment; filename="export 2025.zip"');
    let bytes = 0;
    for await (const chunk of incoming) bytes += (chunk as Buffer).length;
    expect(bytes).toBe(5 * MB);
  });

  it('answer with a problem when the source fails before its first byte', async () => {
    const incoming = await get('/v1/test/exports/404');
    expect(incoming.statusCode).toBe(404);
    expect(incoming.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(incoming.headers['content-disposition']).toBeUndefined();
    let text = '';
    for await (const chunk of incoming) text += String(chunk);
    expect(JSON.parse(text).type).toBe('https://kantoor.dev/problems/export-not-found');
  });

  it('cut the connection when the source fails half-way, so a partial file is never taken for a whole one', async () => {
    const incoming = await get('/v1/test/exports/500');
    expect(incoming.statusCode).toBe(200);
    let bytes = 0;
    await expect(
      (async () => {
        for await (const chunk of incoming) bytes += (chunk as Buffer).length;
      })(),
    ).rejects.toThrow(/aborted/);
    expect(bytes).toBeLessThan(10 * MB);
  });

  it('are produced only as fast as the client reads, and stopped when the client leaves', async () => {
    const incoming = await get('/v1/test/exports/50');
    incoming.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    // socket and stream buffers hold a few megabytes at most; the rest is not produced yet
    expect(source.produced).toBeLessThan(10 * MB);
    incoming.destroy();
    for (let wait = 0; wait < 100 && !(source.destroyed && source.aborted); wait++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(source).toMatchObject({ destroyed: true, aborted: true });
    expect(source.produced).toBeLessThan(10 * MB);
  });
});
