import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { failedPrecondition } from '@kantoor/errors';
import type { Platform } from './platform';

export interface ServiceSecretOptions {
  /** the service, whose data folder keeps the generated secret */
  service: string;
  /** the setting that carries the secret in cluster mode, e.g. `INTAKE_LINK_SECRET` */
  setting: string;
  /** the setting's value, when set */
  configured?: string;
  /** a new secret, for the first embedded start */
  generate: () => string | Promise<string>;
}

/**
 * A secret that must outlive the process (keys that sign links or seal stored values). Cluster mode takes it
 * from its setting, filled from a Kubernetes Secret, and refuses to start without it. Embedded mode, when the
 * setting is empty, generates it on the first start and keeps it in the data folder
 * (`<DATA_DIR>/<service>/secrets/<setting>`, readable by the owner only), so that what it signed or sealed still
 * holds after a restart.
 */
export async function serviceSecret(platform: Platform, options: ServiceSecretOptions): Promise<string> {
  if (options.configured) return options.configured;
  if (platform.mode === 'cluster' || !platform.dataDir) {
    const where = platform.mode === 'cluster' ? 'in cluster mode' : 'on a platform without a data folder';
    throw failedPrecondition(`${options.setting} is required ${where}`, { reason: 'secret_missing' });
  }
  const file = path.join(platform.dataDir, options.service, 'secrets', options.setting.toLowerCase());
  return readOrCreateOwnerOnlyFile(file, options.generate);
}

/**
 * The content of `file`, created with `create()` when it does not exist yet: readable by the owner only (0600 in
 * a 0700 folder), complete before it gets its name (a crash never leaves half a secret), and when several
 * starts race, the first writer wins and every one of them reads its content.
 */
export async function readOrCreateOwnerOnlyFile(file: string, create: () => string | Promise<string>): Promise<string> {
  const kept = await readKept(file);
  if (kept) return kept;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, await create(), { mode: 0o600, flush: true });
  try {
    await link(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(draft);
  }
  return (await readKept(file))!;
}

async function readKept(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
