import { failedPrecondition, invalidArgument, unavailable } from '@kantoor/errors';
import type { Client, ObjectLockInfo } from 'minio';
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { ContentDigest, toReadable } from './content-digest';
import { validateListPrefix, validateObjectKey } from './object-keys';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions, StoredObject } from './object-store';
import { DEFAULT_CONTENT_TYPE, RESERVED_METADATA, validatePutOptions, validateRange } from './put-options';
import { objectNotFound, refuseIfRetained, refuseShortening, validateNewRetention } from './retention';

/** minio is loaded only when a MinIO store is made: embedded processes never need it. */
const minio = (): typeof import('minio') => require('minio');

export interface MinioSettings {
  endPoint: string;
  port: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  bucket: string;
  /** S3 Object Lock in COMPLIANCE mode for retention and legal holds (the bucket must be created with it) */
  objectLock: boolean;
  region?: string;
  /** bytes held in memory per upload; objects larger than this go up in parts (S3 minimum 5 MiB) */
  partSize?: number;
}

const MIB = 1024 * 1024;
const DEFAULT_PART_SIZE = 8 * MIB;
const COMPLIANCE = 'COMPLIANCE';
const META = 'x-amz-meta-';
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** Turns what the S3 client throws into the domain's refusals; anything else is left as it is. */
export function translateStoreError(error: unknown, key: string): unknown {
  const { code, message = '' } = (error ?? {}) as { code?: string; message?: string };
  if (code === 'NoSuchKey' || code === 'NotFound') return objectNotFound(key);
  if (code === 'InvalidRange') {
    return invalidArgument(`The range asked of object "${key}" lies beyond its end.`, {
      reason: 'range_not_satisfiable',
      cause: error,
    });
  }
  // MinIO: "Object is WORM protected and cannot be overwritten"; AWS: "Access Denied because object protected by object lock."
  if (code === 'AccessDenied' && /WORM|object lock|retention|legal hold/i.test(message)) {
    return failedPrecondition(`Object "${key}" is protected by the store's Object Lock: ${message}`, {
      reason: 'object_retained',
      cause: error,
    });
  }
  if (code && UNREACHABLE.has(code)) {
    return unavailable(`The object store cannot be reached (${code}).`, {
      reason: 'object_store_unavailable',
      cause: error,
    });
  }
  return error;
}

const header = (headers: IncomingHttpHeaders, name: string) => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

function laterOf(...dates: (string | undefined)[]): Date | null {
  const times = dates.filter((date): date is string => !!date).map((date) => new Date(date).getTime());
  const valid = times.filter(Number.isFinite);
  return valid.length > 0 ? new Date(Math.max(...valid)) : null;
}

function decodeValue(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value; // written by another tool, not encoded by us
  }
}

/**
 * Objects in a MinIO (or any S3) bucket, for cluster mode. Retention is enforced twice: by S3 Object Lock in
 * COMPLIANCE mode when `objectLock` is on, and by this adapter itself before every overwrite, delete or
 * retention change, whatever the store (the retain-until date also travels as x-amz-meta-retain-until).
 * Metadata values are URI-encoded, since S3 metadata headers carry ASCII only.
 */
export class MinioObjectStore implements ObjectStore {
  readonly bucket: string;
  private readonly client: Client;
  private readonly objectLock: boolean;
  private readonly region: string;
  private readonly partSize: number;

  /** `client`: tests only, an S3 client double (s3rver keeps no object versions) */
  constructor(settings: MinioSettings, client?: Client) {
    this.bucket = settings.bucket;
    this.objectLock = settings.objectLock;
    this.region = settings.region ?? 'us-east-1';
    this.partSize = Math.max(settings.partSize ?? DEFAULT_PART_SIZE, 5 * MIB);
    this.client =
      client ??
      new (minio().Client)({
        endPoint: settings.endPoint,
        port: settings.port,
        useSSL: settings.useSSL,
        accessKey: settings.accessKey,
        secretKey: settings.secretKey,
        region: this.region,
      });
  }

  /** Creates the bucket (with Object Lock when configured); refuses an existing bucket that lacks the lock it needs. */
  async ensureBucket(): Promise<void> {
    const exists = await this.call('', () => this.client.bucketExists(this.bucket));
    if (!exists) {
      try {
        await this.client.makeBucket(this.bucket, this.region, { ObjectLocking: this.objectLock });
        return;
      } catch (error) {
        if ((error as { code?: string }).code !== 'BucketAlreadyOwnedByYou') throw translateStoreError(error, '');
      }
    }
    if (this.objectLock) {
      let lock: ObjectLockInfo | null;
      try {
        // minio 8 declares a void overload first
        lock = await (this.client.getObjectLockConfig(this.bucket) as unknown as Promise<ObjectLockInfo>);
      } catch (error) {
        if ((error as { code?: string }).code !== 'ObjectLockConfigurationNotFoundError')
          throw translateStoreError(error, '');
        lock = null;
      }
      if (!lock || !('objectLockEnabled' in lock) || lock.objectLockEnabled !== 'Enabled') {
        throw failedPrecondition(
          `Bucket "${this.bucket}" has no Object Lock, which write-once objects need; create the bucket with Object Lock enabled.`,
          { reason: 'bucket_without_object_lock' },
        );
      }
    }
  }

  async put(
    key: string,
    body: NodeJS.ReadableStream | Buffer | Uint8Array,
    options?: PutOptions,
  ): Promise<StoredObject> {
    validateObjectKey(key);
    const put = validatePutOptions(options);
    const existing = await this.stat(key);
    if (existing) refuseIfRetained(existing, 'overwritten');

    const headers: Record<string, string> = { 'Content-Type': put.contentType };
    for (const [name, value] of Object.entries(put.metadata)) headers[META + name] = encodeURIComponent(value);
    if (put.retainUntil) {
      headers[`${META}retain-until`] = put.retainUntil.toISOString();
      // S3 refuses a lock that has already expired; such an object is simply not retained
      if (this.objectLock && put.retainUntil.getTime() > Date.now()) {
        headers['X-Amz-Object-Lock-Mode'] = COMPLIANCE;
        headers['X-Amz-Object-Lock-Retain-Until-Date'] = put.retainUntil.toISOString();
      }
    }
    const digest = new ContentDigest(key, put.sha256);
    // Both must settle before put does, so that an abandoned upload is aborted before the caller hears of it
    // (stream.pipeline rejects as soon as the input fails, without waiting for a consuming function).
    const [input, upload] = await Promise.allSettled([
      pipeline(toReadable(body), digest),
      this.upload(key, headers, digest),
    ]);
    // a failed input reaches the upload as the same error; a failed upload ends the input prematurely
    if (upload.status === 'rejected') throw upload.reason;
    if (input.status === 'rejected') throw input.reason;
    return { key, size: digest.size, sha256: digest.sha256() };
  }

  async get(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    validateObjectKey(key);
    const wanted = validateRange(range);
    if (!wanted) return this.call(key, () => this.client.getObject(this.bucket, key));
    const length = wanted.end === undefined ? 0 : wanted.end - wanted.start + 1;
    return this.call(key, () => this.client.getPartialObject(this.bucket, key, wanted.start, length));
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    validateObjectKey(key);
    return (await this.head(key))?.info ?? null;
  }

  /** The object's description and the version it describes (empty on buckets without versioning). */
  private async head(key: string): Promise<{ info: ObjectInfo; versionId: string } | null> {
    let headers: IncomingHttpHeaders;
    try {
      // statObject drops the x-amz-object-lock-* headers, so ask for the HEAD ourselves
      ({ headers } = await this.client.makeRequestAsyncOmit({
        method: 'HEAD',
        bucketName: this.bucket,
        objectName: key,
      }));
    } catch (error) {
      const translated = translateStoreError(error, key);
      if ((translated as { reason?: string }).reason === 'object_not_found') return null;
      throw translated;
    }
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      const field = name.toLowerCase();
      if (!field.startsWith(META) || typeof value !== 'string') continue;
      const metadataName = field.slice(META.length);
      if (!RESERVED_METADATA.includes(metadataName)) metadata[metadataName] = decodeValue(value);
    }
    const info: ObjectInfo = {
      key,
      size: Number(header(headers, 'content-length') ?? 0),
      contentType: header(headers, 'content-type') ?? DEFAULT_CONTENT_TYPE,
      lastModified: new Date(header(headers, 'last-modified') ?? 0),
      retainUntil: laterOf(
        header(headers, `${META}retain-until`),
        header(headers, 'x-amz-object-lock-retain-until-date'),
      ),
      legalHold: this.objectLock
        ? header(headers, 'x-amz-object-lock-legal-hold') === 'ON'
        : header(headers, `${META}legal-hold`) === 'ON',
      metadata,
    };
    return { info, versionId: header(headers, 'x-amz-version-id') ?? '' };
  }

  async delete(key: string): Promise<void> {
    validateObjectKey(key);
    const existing = await this.stat(key);
    if (!existing) throw objectNotFound(key);
    refuseIfRetained(existing, 'deleted');
    // An Object Lock bucket is versioned: removing the key would only add a delete marker and keep every
    // version's bytes. Each version goes by its id, the current one last, so that a version S3 still refuses
    // (its own lock) leaves the object visible and a later deletion tries again.
    const versions = this.objectLock ? await this.versionsOf(key) : [];
    // a store that lists no versions (s3rver) keeps none either
    if (versions.length === 0) await this.call(key, () => this.client.removeObject(this.bucket, key));
    for (const versionId of versions.reverse())
      await this.call(key, () => this.client.removeObject(this.bucket, key, { versionId }));
  }

  /** The key's versions and delete markers, newest first (S3's order). */
  private async versionsOf(key: string): Promise<string[]> {
    const listing = this.client.listObjects(this.bucket, key, true, { IncludeVersion: true });
    const versions: string[] = [];
    try {
      for await (const item of listing as AsyncIterable<{ name?: string; versionId?: string | null }>) {
        // the listing is by prefix: "a~pdf" also lists "a~pdf-2"
        if (item.name === key && item.versionId) versions.push(item.versionId);
      }
    } catch (error) {
      throw translateStoreError(error, key);
    }
    return versions;
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    validateListPrefix(prefix);
    return this.listObjects(prefix);
  }

  async setRetention(key: string, retainUntil: Date): Promise<void> {
    validateObjectKey(key);
    validateNewRetention(retainUntil);
    const existing = await this.head(key);
    if (!existing) throw objectNotFound(key);
    refuseShortening(existing.info, retainUntil);
    if (this.objectLock) {
      const { versionId } = existing;
      await this.call(key, () =>
        this.client.putObjectRetention(this.bucket, key, {
          mode: COMPLIANCE,
          retainUntilDate: retainUntil.toISOString(),
          versionId,
        }),
      );
    } else {
      await this.replaceMetadata(existing.info, { 'retain-until': retainUntil.toISOString() });
    }
  }

  async setLegalHold(key: string, hold: boolean): Promise<void> {
    validateObjectKey(key);
    const existing = await this.head(key);
    if (!existing) throw objectNotFound(key);
    if (this.objectLock) {
      const status = hold ? 'ON' : 'OFF';
      const versionId = existing.versionId || undefined;
      // typed as void by minio 8 although it returns a promise
      await this.call(key, async () => this.client.setObjectLegalHold(this.bucket, key, { status, versionId }));
    } else {
      await this.replaceMetadata(existing.info, { 'legal-hold': hold ? 'ON' : undefined });
    }
  }

  /** Keeps at most one part in memory: small objects go up in one PUT, larger ones in parts. */
  private async upload(key: string, headers: Record<string, string>, bytes: AsyncIterable<Buffer>): Promise<void> {
    let pending: Buffer[] = [];
    let pendingSize = 0;
    let uploadId: string | null = null;
    const parts: { part: number; etag: string }[] = [];
    const sendPart = async (body: Buffer) => {
      uploadId ??= await this.call(key, () => this.client.initiateNewMultipartUpload(this.bucket, key, { ...headers }));
      const part = parts.length + 1;
      const { etag } = await this.call(key, () =>
        this.client.uploadPart(
          {
            bucketName: this.bucket,
            objectName: key,
            uploadID: uploadId!,
            partNumber: part,
            headers: { 'Content-MD5': md5(body) },
          },
          body,
        ),
      );
      parts.push({ part, etag });
    };
    try {
      for await (const chunk of bytes) {
        pending.push(chunk);
        pendingSize += chunk.length;
        if (pendingSize >= this.partSize) {
          await sendPart(Buffer.concat(pending));
          pending = [];
          pendingSize = 0;
        }
      }
      const rest = Buffer.concat(pending);
      if (uploadId === null) {
        // Object Lock headers require Content-MD5 on a PUT
        await this.call(key, () =>
          this.client.makeRequestAsyncOmit(
            {
              method: 'PUT',
              bucketName: this.bucket,
              objectName: key,
              headers: { ...headers, 'Content-MD5': md5(rest) },
            },
            rest,
          ),
        );
        return;
      }
      if (rest.length > 0) await sendPart(rest);
      await this.call(key, () => this.client.completeMultipartUpload(this.bucket, key, uploadId!, parts));
    } catch (error) {
      if (uploadId !== null) {
        const abandoned: string = uploadId;
        // best effort: the parts are invisible either way, and a bucket lifecycle rule removes stale uploads
        await this.client.abortMultipartUpload(this.bucket, key, abandoned).catch(() => undefined);
      }
      throw error;
    }
  }

  /** S3 changes metadata only by copying the object onto itself. */
  private async replaceMetadata(object: ObjectInfo, changes: Record<string, string | undefined>): Promise<void> {
    const userMetadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(object.metadata)) userMetadata[name] = encodeURIComponent(value);
    if (object.retainUntil) userMetadata['retain-until'] = object.retainUntil.toISOString();
    if (object.legalHold) userMetadata['legal-hold'] = 'ON';
    for (const [name, value] of Object.entries(changes)) {
      if (value === undefined) delete userMetadata[name];
      else userMetadata[name] = value;
    }
    await this.call(object.key, () =>
      this.client.copyObject(
        new (minio().CopySourceOptions)({ Bucket: this.bucket, Object: object.key }),
        new (minio().CopyDestinationOptions)({
          Bucket: this.bucket,
          Object: object.key,
          MetadataDirective: 'REPLACE',
          UserMetadata: userMetadata,
          Headers: { 'Content-Type': object.contentType },
        }),
      ),
    );
  }

  /** S3 listings carry no content type, metadata or retention, so each listed object is looked at once. */
  private async *listObjects(prefix: string): AsyncGenerator<ObjectInfo> {
    const listing = this.client.listObjectsV2(this.bucket, prefix, true);
    try {
      for await (const item of listing as AsyncIterable<{ name?: string }>) {
        if (!item.name) continue;
        const info = await this.stat(item.name);
        if (info) yield info; // deleted since it was listed
      }
    } catch (error) {
      throw translateStoreError(error, prefix);
    }
  }

  private async call<T>(key: string, operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      throw translateStoreError(error, key);
    }
  }
}

const md5 = (bytes: Buffer) => createHash('md5').update(bytes).digest('base64');
