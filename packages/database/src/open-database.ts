import type { Database } from './database';
import { PgDatabase } from './pg-database';
import { PgliteDatabase } from './pglite-database';

export type DatabaseSettings =
  { kind: 'postgres'; url: string; poolSize?: number } | { kind: 'pglite'; dataDir?: string };

export async function openDatabase(settings: DatabaseSettings): Promise<Database> {
  if (settings.kind === 'postgres') {
    return new PgDatabase({ connectionString: settings.url, max: settings.poolSize ?? 10 });
  }
  return PgliteDatabase.open(settings.dataDir);
}
