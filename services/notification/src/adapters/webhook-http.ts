/**
 * One webhook attempt over HTTP(S): a POST on a fresh connection, redirects not followed, the whole attempt
 * (connecting, waiting, reading) bounded by one timeout, and at most 64 KiB of the answer read, of which only the
 * excerpt for the log is kept. The destination is checked twice: the URL as stored (an IP address in a refused
 * range) and the address its host name resolves to, when the connection is made (DNS rebinding).
 */
import { lookup as dnsLookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { checkWebhookUrl, refusedRangeOf, type WebhookAddressRules } from '../domain/webhook-address';

export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface WebhookAnswer {
  /** undefined when no answer came (no connection, refused address, timeout) */
  statusCode?: number;
  error?: string;
  /** the first characters of the answer's body */
  responseExcerpt?: string;
  durationMs: number;
}

export type WebhookPoster = (request: WebhookRequest) => Promise<WebhookAnswer>;

/** Read of an answer at most; the rest is not waited for. */
export const MAX_ANSWER_BYTES = 64 * 1024;
export const EXCERPT_CHARACTERS = 512;
/** kept of the answer: enough bytes for the excerpt's characters in any UTF-8 */
const KEPT_BYTES = EXCERPT_CHARACTERS * 4;

/** dns.lookup, refusing a name that resolves to any address in a refused range. */
export function guardedLookup(rules: WebhookAddressRules): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      for (const { address } of addresses) {
        const range = refusedRangeOf(address, rules);
        if (range) {
          const refusal = Object.assign(
            new Error(`${hostname} resolves to ${address}, a ${range} address, which webhooks never reach`),
            { code: 'EADDRREFUSED' },
          );
          return callback(refusal, '', 0);
        }
      }
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

export function webhookPoster(options: { timeoutMs: number; rules: WebhookAddressRules }): WebhookPoster {
  const lookup = guardedLookup(options.rules);
  return async (request) => {
    let url: URL;
    try {
      // checked again at each attempt: the settings may have changed since the URL was given
      url = new URL(checkWebhookUrl(request.url, options.rules));
    } catch (error) {
      return { error: (error as Error).message, durationMs: 0 };
    }
    return new Promise<WebhookAnswer>((resolve) => {
      const started = performance.now();
      let statusCode: number | undefined;
      const kept: Buffer[] = [];
      let keptBytes = 0;
      let done = false;
      const finish = (error?: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        outgoing.destroy();
        const excerpt = Buffer.concat(kept).toString('utf8').slice(0, EXCERPT_CHARACTERS);
        resolve({
          statusCode,
          error,
          responseExcerpt: statusCode === undefined ? undefined : excerpt,
          durationMs: Math.round(performance.now() - started),
        });
      };
      const outgoing = (url.protocol === 'https:' ? https : http).request(
        url,
        {
          method: 'POST',
          headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
          // a connection of its own: each attempt resolves and checks the address again
          agent: false,
          lookup,
        },
        (answer) => {
          statusCode = answer.statusCode;
          let read = 0;
          answer.on('data', (chunk: Buffer) => {
            read += chunk.length;
            if (keptBytes < KEPT_BYTES) {
              const part = chunk.subarray(0, KEPT_BYTES - keptBytes);
              kept.push(Buffer.from(part));
              keptBytes += part.length;
            }
            if (read >= MAX_ANSWER_BYTES) finish();
          });
          answer.on('end', () => finish());
          answer.on('error', () => finish());
        },
      );
      const timer = setTimeout(
        () => finish(statusCode === undefined ? `no answer within ${options.timeoutMs} ms` : undefined),
        options.timeoutMs,
      );
      outgoing.on('error', (error: NodeJS.ErrnoException) =>
        finish(error.message || error.code || 'connection failed'),
      );
      outgoing.end(request.body);
    });
  };
}
