/**
 * The object storage port: write-once-capable blob storage with retention, used for uploaded documents,
 * issued invoices, the archive and backups. Embedded mode stores objects in a folder, cluster mode in MinIO;
 * both honour the same rules, checked by one contract suite (`objectStoreContract`).
 */
export interface PutOptions {
  /** defaults to application/octet-stream */
  contentType?: string;
  /** until this moment the object can be neither overwritten nor deleted */
  retainUntil?: Date;
  /** names: lowercase letters, digits and dashes; values: any text */
  metadata?: Record<string, string>;
  /**
   * The hex SHA-256 the bytes must have. Checked before the body ends, so bytes that differ never become an
   * object (nor lock one): the put fails with failed_precondition / checksum_mismatch and an earlier version stays.
   */
  sha256?: string;
}

export interface StoredObject {
  key: string;
  size: number;
  /** hex SHA-256 of the bytes as they were streamed in */
  sha256: string;
}

export interface ObjectInfo {
  key: string;
  size: number;
  contentType: string;
  lastModified: Date;
  retainUntil: Date | null;
  legalHold: boolean;
  metadata: Record<string, string>;
}

/** A byte range; `end` is inclusive (as in HTTP Range and fs.createReadStream) and defaults to the last byte. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface ObjectStore {
  /** Streams `body` in; refuses (object_retained) while an object under the same key is retained or held. */
  put(key: string, body: NodeJS.ReadableStream | Buffer | Uint8Array, options?: PutOptions): Promise<StoredObject>;
  /** The bytes as a stream, never buffered. */
  get(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream>;
  /** null when there is no such object. */
  stat(key: string): Promise<ObjectInfo | null>;
  delete(key: string): Promise<void>;
  /** Every object whose key starts with `prefix`, in key order (UTF-8 byte order, as S3 lists). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** May only extend an object's retention, never shorten it. */
  setRetention(key: string, retainUntil: Date): Promise<void>;
  setLegalHold(key: string, hold: boolean): Promise<void>;
}
