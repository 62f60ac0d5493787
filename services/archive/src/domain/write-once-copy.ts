import { createHash } from 'node:crypto';
import { failedPrecondition } from '@kantoor/errors';
import { copyObject, isRetained, type ObjectStore } from '@kantoor/object-storage';

/** Reads a stream to its end, keeping only its SHA-256 and size (never the bytes). */
export async function digestOf(stream: NodeJS.ReadableStream): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { sha256: hash.digest('hex'), size };
}

export interface CopyRequest {
  from: ObjectStore;
  fromKey: string;
  to: ObjectStore;
  toKey: string;
  /** the checksum the publisher recorded; empty: take the one computed while copying */
  sha256: string;
  contentType: string;
  retainUntil: Date;
}

const isRefusedAsRetained = (error: unknown) => (error as { reason?: string }).reason === 'object_retained';

const isChecksumMismatch = (error: unknown) => (error as { reason?: string }).reason === 'checksum_mismatch';

/**
 * Streams one object into the write-once store, locked in the same call. The object is locked only once its
 * bytes are known to be the publisher's: the store checks the announced SHA-256 before the body ends (and hashes
 * the bytes only once), since a copy of wrong bytes would otherwise be undeletable for years. A copy whose record
 * did not commit (crash, redelivery) is refused as retained by the store, then found again and accepted when its
 * bytes are right.
 */
export async function copyIntoArchive(request: CopyRequest): Promise<{ sha256: string; size: number }> {
  try {
    return await putVerified(request);
  } catch (error) {
    if (!isRefusedAsRetained(error)) throw error;
  }
  return adoptExisting(request);
}

async function putVerified(request: CopyRequest): Promise<{ sha256: string; size: number }> {
  if (request.sha256 && !/^[0-9a-f]{64}$/i.test(request.sha256))
    throw failedPrecondition(
      `The event announces "${request.sha256}" for "${request.fromKey}", which is no SHA-256; nothing was archived.`,
      {
        reason: 'checksum_mismatch',
      },
    );
  // a retain-until date already past (an old document) cannot be set on S3; the object is then purgeable
  const retainUntil = request.retainUntil.getTime() > Date.now() ? request.retainUntil : undefined;
  try {
    const stored = await copyObject(request.from, request.fromKey, request.to, request.toKey, {
      contentType: request.contentType || 'application/octet-stream',
      retainUntil,
      sha256: request.sha256 || undefined,
    });
    return { sha256: stored.sha256, size: stored.size };
  } catch (error) {
    if (isChecksumMismatch(error))
      throw failedPrecondition(
        `The bytes of "${request.fromKey}" are not the ones the event announces (${(error as Error).message}); nothing was archived.`,
        { reason: 'checksum_mismatch', cause: error },
      );
    throw error;
  }
}

/** The store already holds a retained object under the key: accepted only when its bytes are the announced ones. */
async function adoptExisting(request: CopyRequest): Promise<{ sha256: string; size: number }> {
  const { to, toKey } = request;
  const existing = await to.stat(toKey);
  // it expired or was released meanwhile: copy afresh
  if (!existing) return putVerified(request);
  const found = await digestOf(await to.get(toKey));
  if (request.sha256 && found.sha256 !== request.sha256) {
    if (isRetained(existing))
      throw failedPrecondition(`Archived object "${toKey}" holds other bytes than the event announces.`, {
        reason: 'archived_object_differs',
      });
    await to.delete(toKey);
    return putVerified(request);
  }
  const { retainUntil } = request;
  if (retainUntil.getTime() > Date.now() && (existing.retainUntil?.getTime() ?? 0) < retainUntil.getTime())
    await to.setRetention(toKey, retainUntil);
  return found;
}
