import { stat } from 'node:fs/promises';
import path from 'node:path';
import { temporaryFolder } from '@kantoor/testing';
import { embeddedPlatform, serviceSecret, type Platform } from '../src';

const generated = (value: string) => ({ service: 'demo', setting: 'DEMO_SECRET', generate: () => value });

describe('service secrets', () => {
  let folder: Awaited<ReturnType<typeof temporaryFolder>>;
  let platform: Platform;
  beforeEach(async () => {
    folder = await temporaryFolder('kantoor-secret-');
    platform = embeddedPlatform({ dataDir: folder.path, inMemory: true, logLevel: 'silent' });
  });
  afterEach(() => folder.remove());

  it('embedded: generated on the first start, kept owner-only in the data folder, the same after a restart', async () => {
    expect(await serviceSecret(platform, generated('first'))).toBe('first');
    expect(await serviceSecret(platform, generated('second'))).toBe('first');
    const file = path.join(folder.path, 'demo', 'secrets', 'demo_secret');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file))).mode & 0o777).toBe(0o700);
  });

  it('embedded: starts racing for the first secret all end up with the same one', async () => {
    const secrets = await Promise.all(['a', 'b', 'c', 'd'].map((value) => serviceSecret(platform, generated(value))));
    expect(new Set(secrets).size).toBe(1);
  });

  it('a configured secret wins and nothing is written', async () => {
    expect(await serviceSecret(platform, { ...generated('unused'), configured: 'from the setting' })).toBe(
      'from the setting',
    );
    await expect(stat(path.join(folder.path, 'demo'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('cluster: the setting is required', async () => {
    const cluster: Platform = { ...platform, mode: 'cluster', dataDir: undefined };
    await expect(serviceSecret(cluster, generated('x'))).rejects.toMatchObject({
      reason: 'secret_missing',
      message: 'DEMO_SECRET is required in cluster mode',
    });
  });
});
