import { stat } from 'node:fs/promises';
import path from 'node:path';
import { embeddedPlatform } from '@kantoor/service-runtime';
import { temporaryFolder } from '@kantoor/testing';
import { loadSecretBox } from '../src/adapters/secret-key';
import { SecretBox } from '../src/domain/secret-box';

describe('the embedded notification key', () => {
  it('is generated once into an owner-only file of the data folder and survives a restart', async () => {
    const folder = await temporaryFolder('kantoor-notification-key-');
    try {
      const platform = embeddedPlatform({ dataDir: folder.path, inMemory: true, logLevel: 'silent' });
      const objectStore = () => platform.openObjectStore('notification');
      const sealed = (await loadSecretBox({ platform, objectStore })).seal('smtp password');
      expect((await loadSecretBox({ platform, objectStore })).open(sealed)).toBe('smtp password');
      const file = path.join(folder.path, 'notification', 'secrets', 'notification_secret_key');
      expect((await stat(file)).mode & 0o777).toBe(0o600);
    } finally {
      await folder.remove();
    }
  });

  it('adopts the key an earlier version kept in the object store, then removes that copy', async () => {
    const folder = await temporaryFolder('kantoor-notification-key-');
    try {
      const platform = embeddedPlatform({ dataDir: folder.path, inMemory: true, logLevel: 'silent' });
      const objectStore = () => platform.openObjectStore('notification');
      const earlier = SecretBox.generateKey();
      await (await objectStore()).put('keys/notification-secret-key', Buffer.from(earlier));
      const sealedBefore = SecretBox.fromSetting(earlier).seal('smtp password');

      const box = await loadSecretBox({ platform, objectStore });
      expect(box.open(sealedBefore)).toBe('smtp password');
      expect(await (await objectStore()).stat('keys/notification-secret-key')).toBeNull();
      expect((await loadSecretBox({ platform, objectStore })).open(sealedBefore)).toBe('smtp password');
    } finally {
      await folder.remove();
    }
  });

  it('is required in cluster mode', async () => {
    const platform = { ...embeddedPlatform({ dataDir: '/nonexistent' }), mode: 'cluster' as const };
    await expect(
      loadSecretBox({ platform, objectStore: () => Promise.reject(new Error('not asked')) }),
    ).rejects.toMatchObject({ reason: 'secret_missing' });
  });
});
