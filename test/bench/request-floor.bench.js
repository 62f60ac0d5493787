#!/usr/bin/env node
/**
 * What the layers under a gateway request cost on this machine, each alone, so that the embedded platform's
 * figure (embedded-platform.bench.js: ≥ 1,500 requests/s for GET /v1/firm, which crosses all of them) can be
 * judged against the floor the stack itself sets. No budget of its own; it prints CPU milliseconds per request
 * or call (server and load client together, as both share the machine's two cores in the real benchmark too):
 *  - plainHttp: node's http server answering a fixed JSON body, under autocannon (50 connections);
 *  - expressPrototypes: the same, after giving request and response express's prototypes, as every express
 *    app does before its first middleware (objects whose prototype changes lose V8's fast property access);
 *  - expressApp: an express app with one route answering the same body;
 *  - grpcUnary: a unary call through @kantoor/grpc (client and server in this thread, 50 in flight): caller
 *    metadata, deadline, error mapping and trace propagation included;
 *  - upload1MB: the floor under the upload budget (document-intake.bench.js: 1 MB PDFs, 20 at a time, ≥ 50 MB/s):
 *    a node http server takes each 1 MB body and passes its reads on as an UploadDocument client stream through
 *    @kantoor/grpc to a server that only reads the messages; CPU per upload of both, and of the node:http client
 *    that sends the bodies. No checks, no storage, no database: what the transport alone costs.
 *
 *   pnpm run build && node test/bench/request-floor.bench.js
 *
 * Settings: BENCH_SECONDS (4) per HTTP variant, BENCH_CALLS (20000) gRPC calls, BENCH_UPLOADS (300) uploads.
 */
const http = require('node:http');
const path = require('node:path');
const autocannon = require('autocannon');
const express = require(require.resolve('express', { paths: [path.join(__dirname, '..', '..', 'gateway')] }));
const { createServiceClient, GrpcServer, implement } = require('../../packages/grpc');
const { createLogger } = require('../../packages/logging');
const { DirectoryService } = require('../../proto/dist/kantoor/directory/v1/directory_pb');
const { DocumentIntakeService } = require('../../proto/dist/kantoor/document_intake/v1/document_intake_pb');

const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CALLS = Number(process.env.BENCH_CALLS ?? 20000);
const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 300);
const BODY = JSON.stringify({ id: '3f0c5d2e-1b7a-4c11-9d3e-5f6a7b8c9d0e', name: 'Kantoor Demo', language: 'nl' });
const JSON_TYPE = 'application/json; charset=utf-8';

const cpuMs = (since) => {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1000;
};

async function httpFloor(listener) {
  const server = http.createServer(listener);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const before = process.cpuUsage();
  const result = await autocannon({
    url: `http://127.0.0.1:${server.address().port}/v1/firm`,
    connections: 50,
    duration: SECONDS,
  });
  const ms = cpuMs(before);
  await new Promise((resolve) => server.close(resolve));
  if (result.non2xx || result.errors) throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
  return {
    requestsPerSecond: Math.round(result.requests.average),
    cpuMsPerRequest: Number((ms / result.requests.total).toFixed(3)),
  };
}

/** A gRPC server of `service` with only `handlers`; any other method refuses. */
async function serveOnly(service, handlers) {
  const server = new GrpcServer({
    logger: createLogger({ service: 'bench', level: 'silent' }),
    services: [
      implement(
        service,
        new Proxy(handlers, {
          get: (target, name) => target[name] ?? (async () => Promise.reject(new Error('not in this bench'))),
        }),
      ),
    ],
  });
  const port = await server.start('127.0.0.1', 0);
  return { server, client: createServiceClient(service, `127.0.0.1:${port}`) };
}

/** Runs `task` `count` times, `width` at a time: per second, and this process's CPU milliseconds per run. */
async function measuredRuns(count, width, task) {
  let started = 0;
  const before = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (started < count) {
        started++;
        await task();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perSecond: Math.round(count / seconds), cpuMsPerRun: cpuMs(before) / count };
}

async function grpcFloor() {
  const firm = { id: '3f0c5d2e-1b7a-4c11-9d3e-5f6a7b8c9d0e', name: 'Kantoor Demo', language: 'nl' };
  const { server, client } = await serveOnly(DirectoryService, { getFirm: async () => ({ firm }) });
  const caller = { kind: 'staff', subjectId: firm.id, firmId: firm.id, role: 'admin', scopes: [], requestId: 'bench' };
  for (let index = 0; index < 500; index++) await client.getFirm({ firmId: firm.id }, { caller });
  const { perSecond, cpuMsPerRun } = await measuredRuns(CALLS, 50, () =>
    client.getFirm({ firmId: firm.id }, { caller }),
  );
  client.close();
  await server.stop(1000);
  return { callsPerSecond: perSecond, cpuMsPerCall: Number(cpuMsPerRun.toFixed(3)) };
}

async function uploadFloor() {
  const { server, client } = await serveOnly(DocumentIntakeService, {
    uploadDocument: async (requests) => {
      let bytes = 0;
      for await (const message of requests) if (message.part.case === 'chunk') bytes += message.part.value.length;
      return { document: { id: String(bytes) } };
    },
  });
  const caller = { kind: 'api_key', subjectId: 'bench', firmId: 'bench', scopes: [], requestId: 'bench' };
  const CHUNK = 256 * 1024;
  async function* messages(body) {
    yield { part: { case: 'header', value: { dossierId: 'bench', mailbox: 'purchase', fileName: 'x.pdf' } } };
    for await (const read of body)
      for (let at = 0; at < read.length; at += CHUNK)
        yield { part: { case: 'chunk', value: read.subarray(at, at + CHUNK) } };
    yield { part: { case: 'end', value: true } };
  }
  const web = http.createServer(async (request, response) => {
    const { document } = await client.uploadDocument(messages(request), { caller });
    response.setHeader('content-type', JSON_TYPE);
    response.end(JSON.stringify({ size: Number(document.id) }));
  });
  await new Promise((resolve) => web.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 20 });
  const body = Buffer.alloc(1024 * 1024, 7);
  const send = () =>
    new Promise((resolve, reject) => {
      const request = http.request(
        { host: '127.0.0.1', port: web.address().port, method: 'POST', path: '/upload', agent },
        (response) => {
          let text = '';
          response.on('data', (chunk) => (text += chunk));
          response.on('end', () => (JSON.parse(text).size === body.length ? resolve() : reject(new Error(text))));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
  for (let index = 0; index < 20; index++) await send();
  const { perSecond, cpuMsPerRun } = await measuredRuns(UPLOADS, 20, send);
  agent.destroy();
  await new Promise((resolve) => web.close(resolve));
  client.close();
  await server.stop(1000);
  return { uploadsPerSecond: perSecond, cpuMsPerUpload: Number(cpuMsPerRun.toFixed(2)) };
}

async function main() {
  const answer = (response) => {
    response.statusCode = 200;
    response.setHeader('content-type', JSON_TYPE);
    response.end(BODY);
  };
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.get('/v1/firm', (_request, response) => response.status(200).set('content-type', JSON_TYPE).end(BODY));
  const figures = {
    plainHttp: await httpFloor((_request, response) => answer(response)),
    expressPrototypes: await httpFloor((request, response) => {
      Object.setPrototypeOf(request, app.request);
      Object.setPrototypeOf(response, app.response);
      answer(response);
    }),
    expressApp: await httpFloor(app),
    grpcUnary: await grpcFloor(),
    upload1MB: await uploadFloor(),
  };
  console.log(JSON.stringify(figures));
}

main().catch((error) => {
  process.stderr.write(`${error.stack}\n`);
  process.exit(1);
});
