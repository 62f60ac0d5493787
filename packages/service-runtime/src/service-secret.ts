import path from 'node:path';
import { readOrCreateOwnerOnlyFile } from '@kantoor/config';
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
