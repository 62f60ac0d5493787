import { FolderObjectStore } from './folder-object-store';
import { MinioObjectStore, type MinioSettings } from './minio-object-store';
import type { ObjectStore } from './object-store';

export type ObjectStoreSettings = { kind: 'folder'; root: string } | ({ kind: 'minio' } & MinioSettings);

/** The adapter the settings ask for, ready to use: the folder exists, or the bucket exists with the lock it needs. */
export async function createObjectStore(settings: ObjectStoreSettings): Promise<ObjectStore> {
  if (settings.kind === 'folder') {
    const store = new FolderObjectStore(settings.root);
    await store.ensureRoot();
    return store;
  }
  const { kind: _kind, ...minio } = settings;
  const store = new MinioObjectStore(minio);
  await store.ensureBucket();
  return store;
}
