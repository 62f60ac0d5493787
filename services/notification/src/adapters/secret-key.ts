import type { ObjectStore } from '@kantoor/object-storage';
import { serviceSecret, type Platform } from '@kantoor/service-runtime';
import { SecretBox } from '../domain/secret-box';

/** where versions before the owner-only secrets file kept the embedded key (readable by anyone the umask let in) */
const LEGACY_KEY_OBJECT = 'keys/notification-secret-key';

/**
 * The key that seals SMTP passwords and mail secrets: NOTIFICATION_SECRET_KEY (a Kubernetes Secret) in cluster
 * mode; in embedded mode, when none is set, generated once and kept in the data folder (see serviceSecret). A key
 * an earlier version kept in the object store is adopted, so what it sealed stays readable, and then removed.
 */
export async function loadSecretBox(options: {
  configured?: string;
  platform: Platform;
  objectStore: () => Promise<ObjectStore>;
}): Promise<SecretBox> {
  const legacy = options.configured || options.platform.mode === 'cluster' ? undefined : await options.objectStore();
  const key = await serviceSecret(options.platform, {
    service: 'notification',
    setting: 'NOTIFICATION_SECRET_KEY',
    configured: options.configured,
    generate: async () => (legacy && (await readLegacyKey(legacy))) || SecretBox.generateKey(),
  });
  if (legacy && (await legacy.stat(LEGACY_KEY_OBJECT))) await legacy.delete(LEGACY_KEY_OBJECT);
  return SecretBox.fromSetting(key);
}

async function readLegacyKey(store: ObjectStore): Promise<string | undefined> {
  if (!(await store.stat(LEGACY_KEY_OBJECT))) return undefined;
  const chunks: Buffer[] = [];
  for await (const chunk of await store.get(LEGACY_KEY_OBJECT)) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').trim();
}
