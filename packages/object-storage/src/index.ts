export type { ByteRange, ObjectInfo, ObjectStore, PutOptions, StoredObject } from './object-store';
export { FolderObjectStore } from './folder-object-store';
export { MinioObjectStore, translateStoreError, type MinioSettings } from './minio-object-store';
export { createObjectStore, type ObjectStoreSettings } from './create-object-store';
export { copyObject } from './copy-object';
export { MAX_KEY_BYTES, compareKeys, validateListPrefix, validateObjectKey } from './object-keys';
export { isRetained, type RetentionState } from './retention';
export { objectStoreContract } from './contract';
