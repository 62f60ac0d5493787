import { FolderObjectStore } from './folder-object-store';
import type { ObjectStore, PutOptions, StoredObject } from './object-store';

/**
 * Copies an object into another store (or under another key) with `to.put`. Between folder stores the bytes of
 * a small object are lent from the source's read buffer, which is reused afterwards, instead of being copied
 * into a buffer of their own per object; otherwise they stream from `from.get`.
 */
export async function copyObject(
  from: ObjectStore,
  fromKey: string,
  to: ObjectStore,
  toKey: string,
  options?: PutOptions,
): Promise<StoredObject> {
  if (from instanceof FolderObjectStore && to instanceof FolderObjectStore) {
    const lent = await from.lend(fromKey, (bytes) => to.put(toKey, bytes, options));
    if (lent) return lent.value;
  }
  const source = await from.get(fromKey);
  try {
    return await to.put(toKey, source, options);
  } finally {
    (source as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
  }
}
