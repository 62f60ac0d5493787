import { createHash } from 'node:crypto';
import { failedPrecondition } from '@kantoor/errors';
import { isRetained, type ObjectStore } from '@kantoor/object-storage';

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

/**
 * Streams one object into the write-once store and locks it. The object is locked only once its bytes are
 * known to be the publisher's: locking first would make a copy of wrong bytes undeletable for years. A copy
 * whose record did not commit (crash, redelivery) is found again and accepted when its bytes are right.
 */
export async function copyIntoArchive(request: CopyRequest): Promise<{ sha256: string; size: number }> {
  const { to, toKey } = request;
  const existing = await to.stat(toKey);
  if (existing) {
    const found = await digestOf(await to.get(toKey));
    if (!request.sha256 || found.sha256 === request.sha256) {
      await lock(to, toKey, request.retainUntil, existing.retainUntil);
      return found;
    }
    if (isRetained(existing)) {
      throw failedPrecondition(`Archived object "${toKey}" holds other bytes than the event announces.`, {
        reason: 'archived_object_differs',
      });
    }
    await to.delete(toKey);
  }
  const stored = await to.put(toKey, await request.from.get(request.fromKey), {
    contentType: request.contentType || 'application/octet-stream',
  });
  if (request.sha256 && stored.sha256 !== request.sha256) {
    await to.delete(toKey);
    throw failedPrecondition(
      `The bytes of "${request.fromKey}" have SHA-256 ${stored.sha256}, not ${request.sha256} as the event says; nothing was archived.`,
      { reason: 'checksum_mismatch' },
    );
  }
  await lock(to, toKey, request.retainUntil, null);
  return { sha256: stored.sha256, size: stored.size };
}

async function lock(store: ObjectStore, key: string, retainUntil: Date, current: Date | null) {
  // a retain-until date already past (an old document) cannot be set on S3; the object is then purgeable
  if (retainUntil.getTime() <= Date.now()) return;
  if (current && current.getTime() >= retainUntil.getTime()) return;
  await store.setRetention(key, retainUntil);
}
