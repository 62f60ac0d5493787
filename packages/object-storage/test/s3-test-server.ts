import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareKeys } from '../src/object-keys';

// s3rver ships no types

const S3rver = require('s3rver');

export interface RecordedRequest {
  method: string;
  bucket: string;
  key: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  /** only for the Object Lock calls the test server answers itself */
  body: string;
}

export interface S3TestServer {
  endPoint: string;
  port: number;
  accessKey: string;
  secretKey: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

interface LockState {
  retainUntil?: string;
  legalHold?: string;
}

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const readBody = async (request: IncomingMessage) => {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
};

/**
 * A real s3rver on a random loopback port, behind a thin layer that records every request and fills two gaps
 * of s3rver for buckets created with Object Lock: it answers the retention, legal-hold and object-lock
 * configuration calls and reports the resulting x-amz-object-lock-* headers on HEAD and GET, as MinIO does.
 * It does not enforce the lock: what stops an overwrite or delete here is the adapter's own check.
 * It also lists a locked bucket's versions (one per key, "null", as S3 lists objects stored without versioning)
 * and lists keys in S3's byte order, where s3rver follows the order of readdir.
 */
export async function startS3TestServer(preexistingBuckets: string[] = []): Promise<S3TestServer> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  const s3rver = new S3rver({
    directory,
    silent: true,
    configureBuckets: preexistingBuckets.map((name) => ({ name, configs: [] })),
  });
  await s3rver.configureBuckets();
  const listObjects = s3rver.store.listObjects.bind(s3rver.store);
  s3rver.store.listObjects = async (...args: unknown[]) => {
    const listing = await listObjects(...args);
    listing.objects.sort((a: { key: string }, b: { key: string }) => compareKeys(a.key, b.key));
    return listing;
  };
  const handle = s3rver.callback();
  const requests: RecordedRequest[] = [];
  const lockedBuckets = new Set<string>();
  const locks = new Map<string, LockState>();

  async function route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://s3');
    const [bucket = '', ...rest] = url.pathname.slice(1).split('/');
    const key = rest.map(decodeURIComponent).join('/');
    const recorded: RecordedRequest = {
      method: request.method ?? '',
      bucket,
      key,
      query: url.searchParams,
      headers: request.headers,
      body: '',
    };
    requests.push(recorded);
    const id = `${bucket}/${key}`;
    const locked = lockedBuckets.has(bucket);

    if (
      !key &&
      request.method === 'PUT' &&
      !url.search &&
      request.headers['x-amz-bucket-object-lock-enabled'] === 'true'
    ) {
      lockedBuckets.add(bucket);
    }
    if (!key && request.method === 'GET' && url.searchParams.has('object-lock')) {
      response.setHeader('Content-Type', 'application/xml');
      if (locked) {
        response.end(
          '<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled></ObjectLockConfiguration>',
        );
      } else {
        response.statusCode = 404;
        response.end(
          '<Error><Code>ObjectLockConfigurationNotFoundError</Code><Message>Object Lock configuration does not exist for this bucket</Message></Error>',
        );
      }
      return;
    }
    if (!key && locked && request.method === 'GET' && url.searchParams.has('versions')) {
      // a locked bucket is versioned; s3rver keeps one version per key, listed as S3 lists unversioned ones
      const { objects } = await s3rver.store.listObjects(bucket, { prefix: url.searchParams.get('prefix') ?? '' });
      const versions = (objects as Array<{ key: string }>).map(
        (object) =>
          `<Version><Key>${escapeXml(object.key)}</Key><VersionId>null</VersionId><IsLatest>true</IsLatest></Version>`,
      );
      response.setHeader('Content-Type', 'application/xml');
      response.end(`<ListVersionsResult><IsTruncated>false</IsTruncated>${versions.join('')}</ListVersionsResult>`);
      return;
    }
    if (key && locked) {
      if (request.method === 'DELETE' && url.searchParams.get('versionId') === 'null') {
        url.searchParams.delete('versionId');
        request.url = `${url.pathname}${url.search}`;
      }
      if (request.method === 'PUT' && (url.searchParams.has('retention') || url.searchParams.has('legal-hold'))) {
        recorded.body = await readBody(request);
        const state = locks.get(id) ?? {};
        const retainUntil = /<RetainUntilDate>([^<]+)</.exec(recorded.body)?.[1];
        const legalHold = /<Status>([^<]+)</.exec(recorded.body)?.[1];
        locks.set(id, { ...state, ...(retainUntil && { retainUntil }), ...(legalHold && { legalHold }) });
        response.end();
        return;
      }
      const writes =
        (request.method === 'PUT' && !url.search) || (request.method === 'POST' && url.searchParams.has('uploads'));
      if (writes) {
        const retainUntil = request.headers['x-amz-object-lock-retain-until-date'] as string | undefined;
        locks.set(id, retainUntil ? { retainUntil } : {});
      }
      if (request.method === 'DELETE' && !url.search) locks.delete(id);
      const state = locks.get(id);
      if ((request.method === 'HEAD' || request.method === 'GET') && !url.search && state) {
        if (state.retainUntil) {
          response.setHeader('x-amz-object-lock-mode', 'COMPLIANCE');
          response.setHeader('x-amz-object-lock-retain-until-date', state.retainUntil);
        }
        if (state.legalHold) response.setHeader('x-amz-object-lock-legal-hold', state.legalHold);
      }
    }
    handle(request, response);
  }

  const server = createServer((request, response) => {
    route(request, response).catch((error: Error) => {
      response.statusCode = 500;
      response.end(error.message);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endPoint: '127.0.0.1',
    port: (server.address() as AddressInfo).port,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      s3rver.logger?.close?.();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
