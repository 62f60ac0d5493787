import { S3Error } from 'minio';
import { Readable } from 'node:stream';
import {
  MinioObjectStore,
  createObjectStore,
  objectStoreContract,
  translateStoreError,
  type MinioSettings,
} from '@kantoor/object-storage';
import { startS3TestServer, type RecordedRequest, type S3TestServer } from './s3-test-server';

let server: S3TestServer;
let buckets = 0;
beforeAll(async () => {
  server = await startS3TestServer(['without-lock']);
});
afterAll(() => server.close());

function settings(overrides: Partial<MinioSettings> = {}): MinioSettings {
  return {
    endPoint: server.endPoint,
    port: server.port,
    useSSL: false,
    accessKey: server.accessKey,
    secretKey: server.secretKey,
    bucket: `bucket-${++buckets}`,
    objectLock: false,
    partSize: 5 * 1024 * 1024, // the S3 minimum, so that the multi-megabyte object goes up in parts
    ...overrides,
  };
}

async function freshStore(overrides: Partial<MinioSettings> = {}): Promise<MinioObjectStore> {
  const store = new MinioObjectStore(settings(overrides));
  await store.ensureBucket();
  return store;
}

objectStoreContract('MinioObjectStore on s3rver', () => freshStore());
objectStoreContract('MinioObjectStore with Object Lock', () => freshStore({ objectLock: true }));

describe('MinioObjectStore talking S3', () => {
  const requestsTo = (bucket: string, predicate: (request: RecordedRequest) => boolean) =>
    server.requests.filter((request) => request.bucket === bucket && predicate(request));
  const lockHeaders = (request: RecordedRequest) =>
    Object.fromEntries(
      Object.entries(request.headers).filter(
        ([name]) => name.startsWith('x-amz-object-lock') || name === 'x-amz-meta-retain-until',
      ),
    );

  test('ensureBucket creates the bucket with Object Lock when asked', async () => {
    const { bucket } = settings({ bucket: 'archive-locked' });
    await freshStore({ bucket, objectLock: true });
    const creation = requestsTo(bucket, (request) => request.method === 'PUT' && request.key === '');
    expect(creation).toHaveLength(1);
    expect(creation[0].headers['x-amz-bucket-object-lock-enabled']).toBe('true');
    await freshStore({ bucket, objectLock: true }); // an existing locked bucket is accepted
  });

  test('ensureBucket refuses an existing bucket without Object Lock when the store needs it', async () => {
    await expect(freshStore({ bucket: 'without-lock', objectLock: true })).rejects.toMatchObject({
      kind: 'failed_precondition',
      reason: 'bucket_without_object_lock',
      message: expect.stringContaining('"without-lock"'),
    });
    await expect(freshStore({ bucket: 'without-lock', objectLock: false })).resolves.toBeInstanceOf(MinioObjectStore);
  });

  test('a retained object is written in COMPLIANCE mode until its date, in one PUT or in parts', async () => {
    const store = await freshStore({ objectLock: true });
    const { bucket } = store;
    const retainUntil = new Date(Date.now() + 7 * 365 * 24 * 3600_000);
    await store.put('archive/small.pdf', Buffer.from('%PDF'), { retainUntil });
    await store.put('archive/large.tar', Buffer.alloc(6 * 1024 * 1024, 7), { retainUntil });
    await store.put('archive/expired.pdf', Buffer.from('old'), { retainUntil: new Date(Date.now() - 1000) });
    await store.put('inbox/unretained.pdf', Buffer.from('x'));

    const expected = {
      'x-amz-object-lock-mode': 'COMPLIANCE',
      'x-amz-object-lock-retain-until-date': retainUntil.toISOString(),
      'x-amz-meta-retain-until': retainUntil.toISOString(),
    };
    const [single] = requestsTo(bucket, (request) => request.method === 'PUT' && request.key === 'archive/small.pdf');
    expect(lockHeaders(single)).toEqual(expected);
    const [initiation] = requestsTo(
      bucket,
      (request) => request.method === 'POST' && request.key === 'archive/large.tar' && request.query.has('uploads'),
    );
    expect(lockHeaders(initiation)).toEqual(expected);
    // an expired date cannot be locked on S3; it travels as metadata only
    const [expired] = requestsTo(
      bucket,
      (request) => request.method === 'PUT' && request.key === 'archive/expired.pdf',
    );
    expect(Object.keys(lockHeaders(expired))).toEqual(['x-amz-meta-retain-until']);
    const [unretained] = requestsTo(
      bucket,
      (request) => request.method === 'PUT' && request.key === 'inbox/unretained.pdf',
    );
    expect(lockHeaders(unretained)).toEqual({});
  });

  test('without Object Lock the retain-until date travels as metadata only', async () => {
    const store = await freshStore({ objectLock: false });
    const { bucket } = store;
    const retainUntil = new Date(Date.now() + 3600_000);
    await store.put('archive/a.pdf', Buffer.from('a'), { retainUntil });
    const [put] = requestsTo(bucket, (request) => request.method === 'PUT' && request.key === 'archive/a.pdf');
    expect(lockHeaders(put)).toEqual({ 'x-amz-meta-retain-until': retainUntil.toISOString() });
    expect(
      requestsTo(bucket, (request) => request.method === 'PUT' && request.key === '')[0].headers,
    ).not.toHaveProperty('x-amz-bucket-object-lock-enabled');
  });

  test('setRetention and setLegalHold go through the Object Lock API in COMPLIANCE mode', async () => {
    const store = await freshStore({ objectLock: true });
    const { bucket } = store;
    await store.put('archive/b.pdf', Buffer.from('b'), { retainUntil: new Date(Date.now() + 3600_000) });
    const extended = new Date(Date.now() + 2 * 3600_000);
    await store.setRetention('archive/b.pdf', extended);
    await store.setLegalHold('archive/b.pdf', true);
    await store.setLegalHold('archive/b.pdf', false);

    const [retention] = requestsTo(bucket, (request) => request.method === 'PUT' && request.query.has('retention'));
    expect(retention.body).toContain('<Mode>COMPLIANCE</Mode>');
    expect(retention.body).toContain(`<RetainUntilDate>${extended.toISOString()}</RetainUntilDate>`);
    const holds = requestsTo(bucket, (request) => request.method === 'PUT' && request.query.has('legal-hold'));
    expect(holds.map((request) => /<Status>(\w+)</.exec(request.body)?.[1])).toEqual(['ON', 'OFF']);
    // nothing was rewritten by copying: the object itself was never PUT again
    expect(requestsTo(bucket, (request) => request.method === 'PUT' && 'x-amz-copy-source' in request.headers)).toEqual(
      [],
    );
  });

  test('an upload whose input fails after its first part is abandoned, not completed', async () => {
    const store = await freshStore();
    const { bucket } = store;
    let sent = 0;
    const failing = new Readable({
      read() {
        if (sent < 6) this.push(Buffer.alloc(1024 * 1024, sent++));
        else this.destroy(new Error('client went away'));
      },
    });
    await expect(store.put('uploads/big.zip', failing)).rejects.toThrow('client went away');
    const calls = requestsTo(bucket, (request) => request.key === 'uploads/big.zip').map(
      (request) => `${request.method} ${[...request.query.keys()].sort().join('&')}`,
    );
    expect(calls).toEqual(['HEAD ', 'POST uploads', 'PUT partNumber&uploadId', 'DELETE uploadId']);
    expect(await store.stat('uploads/big.zip')).toBeNull();
  });

  test('a failing upload reports what the store said, not that the input was cut short', async () => {
    const store = new MinioObjectStore(settings({ bucket: 'never-created' }));
    const stillFlowing = Readable.from(Array.from({ length: 12 }, () => Buffer.alloc(1024 * 1024)));
    await expect(store.put('a', stillFlowing)).rejects.toMatchObject({ code: 'NoSuchBucket' });
    await expect(store.put('b', Buffer.from('small'))).rejects.toMatchObject({ code: 'NoSuchBucket' });
  });

  test('an unreachable store is reported as unavailable', async () => {
    const store = new MinioObjectStore({ ...settings(), port: 1 });
    await expect(store.stat('anything')).rejects.toMatchObject({
      kind: 'unavailable',
      reason: 'object_store_unavailable',
    });
  });

  test('refusals by the store itself become domain errors', () => {
    const refusal = Object.assign(new S3Error('Object is WORM protected and cannot be overwritten'), {
      code: 'AccessDenied',
    });
    expect(translateStoreError(refusal, 'archive/x.pdf')).toMatchObject({
      kind: 'failed_precondition',
      reason: 'object_retained',
    });
    const missing = Object.assign(new S3Error('The specified key does not exist.'), { code: 'NoSuchKey' });
    expect(translateStoreError(missing, 'archive/x.pdf')).toMatchObject({
      kind: 'not_found',
      reason: 'object_not_found',
    });
    const other = Object.assign(new S3Error('Access Denied.'), { code: 'AccessDenied' });
    expect(translateStoreError(other, 'archive/x.pdf')).toBe(other);
  });

  test('createObjectStore gives a MinIO store for kind "minio" with its bucket in place', async () => {
    const { bucket, ...rest } = settings();
    const store = await createObjectStore({ kind: 'minio', bucket, ...rest });
    expect(store).toBeInstanceOf(MinioObjectStore);
    await store.put('hello', Buffer.from('world'));
    expect(requestsTo(bucket, (request) => request.method === 'PUT' && request.key === '')).toHaveLength(1);
  });
});

/**
 * A versioned Object Lock bucket as S3 keeps it, for what s3rver cannot show: a key's versions, delete markers
 * and the COMPLIANCE lock of each version. Only the calls `delete` makes are answered.
 */
class VersionedBucket {
  readonly versions = new Map<
    string,
    Array<{ versionId: string; deleteMarker: boolean; retainUntil?: Date; legalHold?: boolean }>
  >();
  readonly removals: Array<{ key: string; versionId?: string }> = [];
  private nextVersion = 1;

  add(key: string, lock: { retainUntil?: Date; legalHold?: boolean } = {}) {
    const list = this.versions.get(key) ?? [];
    list.unshift({ versionId: `v${this.nextVersion++}`, deleteMarker: false, ...lock });
    this.versions.set(key, list);
  }

  async makeRequestAsyncOmit({ method, objectName }: { method: string; objectName: string }) {
    const latest = this.versions.get(objectName)?.[0];
    if (method !== 'HEAD') throw new Error(`unexpected ${method}`);
    if (!latest || latest.deleteMarker) throw Object.assign(new S3Error('Not Found'), { code: 'NotFound' });
    return {
      headers: {
        'content-length': '1',
        'x-amz-version-id': latest.versionId,
        ...(latest.retainUntil && { 'x-amz-object-lock-retain-until-date': latest.retainUntil.toISOString() }),
        ...(latest.legalHold && { 'x-amz-object-lock-legal-hold': 'ON' }),
      },
    };
  }

  listObjects(_bucket: string, prefix: string, _recursive: boolean, options: { IncludeVersion?: boolean }) {
    expect(options.IncludeVersion).toBe(true);
    const items = [...this.versions]
      .filter(([key]) => key.startsWith(prefix))
      .flatMap(([key, list]) => list.map((version) => ({ name: key, versionId: version.versionId })));
    return Readable.from(items);
  }

  async removeObject(_bucket: string, key: string, options?: { versionId?: string }) {
    this.removals.push({ key, versionId: options?.versionId });
    const list = this.versions.get(key) ?? [];
    if (!options?.versionId) {
      list.unshift({ versionId: `v${this.nextVersion++}`, deleteMarker: true });
      return;
    }
    const version = list.find((candidate) => candidate.versionId === options.versionId);
    if (version && (version.legalHold || (version.retainUntil?.getTime() ?? 0) > Date.now()))
      throw Object.assign(new S3Error('Object is WORM protected and cannot be overwritten'), { code: 'AccessDenied' });
    this.versions.set(
      key,
      list.filter((candidate) => candidate !== version),
    );
  }
}

describe('MinioObjectStore on a versioned Object Lock bucket', () => {
  const storeOn = (bucket: VersionedBucket) =>
    new MinioObjectStore(
      settings({ objectLock: true }),
      bucket as unknown as ConstructorParameters<typeof MinioObjectStore>[1],
    );
  const past = () => new Date(Date.now() - 3600_000);

  test('deleting an object after its retention removes every version of its key, so its bytes are freed', async () => {
    const bucket = new VersionedBucket();
    bucket.add('archive/a~pdf', { retainUntil: past() });
    bucket.add('archive/a~pdf', { retainUntil: past() });
    bucket.add('archive/a~pdf-2', { retainUntil: new Date(Date.now() + 3600_000) });
    await storeOn(bucket).delete('archive/a~pdf');

    expect(bucket.versions.get('archive/a~pdf')).toEqual([]);
    // each version by its id, the current one last; no delete marker left; the key sharing the prefix untouched
    expect(bucket.removals).toEqual([
      { key: 'archive/a~pdf', versionId: 'v1' },
      { key: 'archive/a~pdf', versionId: 'v2' },
    ]);
    expect(bucket.versions.get('archive/a~pdf-2')).toHaveLength(1);
    await expect(storeOn(bucket).stat('archive/a~pdf')).resolves.toBeNull();
  });

  test('before its retain-until date, or under legal hold after it, nothing of the object is removed', async () => {
    const bucket = new VersionedBucket();
    bucket.add('archive/kept', { retainUntil: new Date(Date.now() + 3600_000) });
    bucket.add('archive/held', { retainUntil: past(), legalHold: true });
    await expect(storeOn(bucket).delete('archive/kept')).rejects.toMatchObject({ reason: 'object_retained' });
    await expect(storeOn(bucket).delete('archive/held')).rejects.toMatchObject({ reason: 'object_retained' });
    expect(bucket.removals).toEqual([]);
    expect(bucket.versions.get('archive/kept')).toHaveLength(1);
    expect(bucket.versions.get('archive/held')).toHaveLength(1);
  });

  test('an older version S3 still locks stops the deletion before the current version goes', async () => {
    const bucket = new VersionedBucket();
    bucket.add('archive/old', { retainUntil: new Date(Date.now() + 3600_000) });
    bucket.add('archive/old', { retainUntil: past() });
    await expect(storeOn(bucket).delete('archive/old')).rejects.toMatchObject({ reason: 'object_retained' });
    expect(bucket.versions.get('archive/old')).toHaveLength(2);
    await expect(storeOn(bucket).stat('archive/old')).resolves.not.toBeNull();
  });
});
