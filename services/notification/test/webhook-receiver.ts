/** A partner's webhook receiver on 127.0.0.1 for the tests: records every request and answers as told. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  method: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** How the receiver answers one request. */
export type Answer = (response: http.ServerResponse) => void;

export const status =
  (code: number, body = '', headers: http.OutgoingHttpHeaders = {}): Answer =>
  (response) => {
    response.writeHead(code, headers);
    response.end(body);
  };

/** Never answers (until the receiver stops). */
export const silence: Answer = () => undefined;

/**
 * 200 with a body of `totalBytes`, written as fast as the client reads it; `written()` tells how much went out
 * before the client hung up.
 */
export function endlessBody(totalBytes: number) {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const answer: Answer = (response) => {
    response.writeHead(200, { 'content-type': 'text/plain' });
    const more = () => {
      while (sent < totalBytes && !response.destroyed) {
        sent += chunk.length;
        if (!response.write(chunk)) return void response.once('drain', more);
      }
      response.end();
    };
    more();
  };
  return { answer, written: () => sent };
}

export interface WebhookReceiver {
  url(path: string): string;
  /** requests to `path` so far, oldest first */
  requests(path: string): ReceivedRequest[];
  /** the next requests to `path` get these answers, in order; after them: 204 */
  answer(path: string, ...answers: Answer[]): void;
  /** waits until `path` has `count` requests (or the time is up) */
  received(path: string, count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  stop(): Promise<void>;
}

export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const log: ReceivedRequest[] = [];
  const queued = new Map<string, Answer[]>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      log.push({
        path,
        method: request.method ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
      });
      (queued.get(path)?.shift() ?? status(204))(response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const requests = (path: string) => log.filter((entry) => entry.path === path);
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    answer(path, ...answers) {
      queued.set(path, [...(queued.get(path) ?? []), ...answers]);
    },
    async received(path, count, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (requests(path).length < count && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      return requests(path);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
