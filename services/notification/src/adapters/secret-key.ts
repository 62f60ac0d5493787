import { failedPrecondition } from '@kantoor/errors';
import type { ObjectStore } from '@kantoor/object-storage';
import { SecretBox } from '../domain/secret-box';

const KEY_OBJECT = 'keys/notification-secret-key';

/**
 * The key that seals SMTP passwords and mail secrets. Cluster mode takes it from NOTIFICATION_SECRET_KEY (a
 * Kubernetes Secret); embedded mode, when none is set, generates one on the first start and keeps it in the
 * data folder (the service's object store folder), so that what was sealed stays readable after a restart.
 */
export async function loadSecretBox(options: {
  configured?: string;
  mode: 'embedded' | 'cluster';
  objectStore: () => Promise<ObjectStore>;
}): Promise<SecretBox> {
  if (options.configured) return SecretBox.fromSetting(options.configured);
  if (options.mode === 'cluster') {
    throw failedPrecondition('NOTIFICATION_SECRET_KEY is required in cluster mode', { reason: 'secret_key_missing' });
  }
  const store = await options.objectStore();
  if (await store.stat(KEY_OBJECT)) {
    const chunks: Buffer[] = [];
    for await (const chunk of await store.get(KEY_OBJECT)) chunks.push(Buffer.from(chunk as Buffer));
    return SecretBox.fromSetting(Buffer.concat(chunks).toString('utf8').trim());
  }
  const key = SecretBox.generateKey();
  await store.put(KEY_OBJECT, Buffer.from(key), { contentType: 'text/plain' });
  return SecretBox.fromSetting(key);
}
