import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Database, Queryable } from './database';

export interface Migration {
  version: string;
  sql: string;
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

/** Reads `NNNN_name.sql` files from a service's migrations folder, in name order. */
export async function readMigrations(folder: string): Promise<Migration[]> {
  const files = (await readdir(folder)).filter((name) => name.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (name) => ({
      version: path.basename(name, '.sql'),
      sql: await readFile(path.join(folder, name), 'utf8'),
    })),
  );
}

const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

/**
 * Applies the migrations not applied yet, each in its own transaction with its bookkeeping row, so a
 * crash never leaves a half-applied migration. On PostgreSQL an advisory lock makes concurrent runners
 * (two pods starting) wait for each other. An applied migration whose file changed afterwards stops the
 * run: schema history is append-only. What is applied is read in one query first, so a start with nothing
 * to apply costs one round trip per service instead of a transaction per migration.
 */
export async function migrate(db: Database, migrations: Migration[]): Promise<MigrationReport> {
  if (db.dialect === 'postgres') await refuseNonIsoDates(db);
  // runners starting together (pods) wait for each other; PGlite has a single session
  const lock = async (tx: Queryable) => {
    if (db.dialect === 'postgres') await tx.query(`SELECT pg_advisory_xact_lock(hashtext('schema_migrations'))`);
  };
  // CREATE TABLE IF NOT EXISTS is not safe against itself: two runners at once can both try, and one fails
  await db.transaction(async (tx) => {
    await lock(tx);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
  const known = new Map(
    (await db.query<{ version: string; checksum: string }>('SELECT version, checksum FROM schema_migrations')).rows.map(
      (row) => [row.version, row.checksum],
    ),
  );
  const applied: string[] = [];
  let alreadyApplied = 0;
  for (const migration of migrations) {
    const recorded = known.get(migration.version);
    if (recorded !== undefined) {
      refuseIfChanged(migration, recorded);
      alreadyApplied++;
      continue;
    }
    // another runner may apply it meanwhile: it is checked again under the lock
    const done = await db.transaction(async (tx) => {
      await lock(tx);
      const existing = await tx.query<{ checksum: string }>(
        'SELECT checksum FROM schema_migrations WHERE version = $1',
        [migration.version],
      );
      if (existing.rows.length > 0) {
        refuseIfChanged(migration, existing.rows[0].checksum);
        return false;
      }
      await tx.query(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)', [
        migration.version,
        checksum(migration.sql),
      ]);
      return true;
    });
    if (done) applied.push(migration.version);
    else alreadyApplied++;
  }
  return { applied, alreadyApplied };
}

function refuseIfChanged(migration: Migration, recordedChecksum: string): void {
  if (recordedChecksum !== checksum(migration.sql)) {
    throw new Error(`migration ${migration.version} was changed after it was applied; add a new migration instead`);
  }
}

/**
 * Times are read, and list cursors keep them, as PostgreSQL writes them; that is only right in the ISO date
 * style (PostgreSQL's default). A database or role set to another DateStyle would make lists skip or repeat
 * rows, so every service and the migrations Job stop at start, naming the setting, instead. (Pinning it per
 * connection would need the startup `options`, which PgBouncer refuses unless told to ignore them.)
 */
async function refuseNonIsoDates(db: Database): Promise<void> {
  const { rows } = await db.query<{ DateStyle: string }>('SHOW DateStyle');
  const style = rows[0]?.DateStyle ?? '';
  if (!/^ISO\b/i.test(style))
    throw new Error(
      `PostgreSQL writes dates in the "${style}" style (DateStyle); Kantoor needs the ISO style, PostgreSQL's ` +
        'default: reset the setting of this database or role (ALTER DATABASE ... RESET DateStyle, ALTER ROLE ... ' +
        "RESET DateStyle) or set it to 'ISO, DMY'",
    );
}
