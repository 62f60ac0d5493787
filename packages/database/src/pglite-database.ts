import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { Database, IsolationLevel, Queryable, QueryResult } from './database';
import { PGLITE_PARSERS } from './type-parsers';

/**
 * Embedded adapter over PGlite. PGlite is a single session: its own mutex serialises queries and
 * transactions, so a transaction here blocks every other query of this database until it ends. That is
 * the price of embedded mode; anything that relies on concurrent sessions is tested on PostgreSQL.
 */
export class PgliteDatabase implements Database {
  readonly dialect = 'pglite' as const;

  private constructor(readonly db: PGlite) {}

  /**
   * `dataDir` undefined: in memory; otherwise a folder kept between restarts. A new database starts from
   * a dump of a freshly initialised cluster instead of running initdb: initdb costs seconds of WASM per
   * database, the dump under half a second, and embedded mode opens one database per service.
   */
  static async open(dataDir?: string): Promise<PgliteDatabase> {
    const { PGlite } = await import('@electric-sql/pglite');
    const isNew = !dataDir || !existsSync(path.join(dataDir, 'PG_VERSION'));
    const loadDataDir = isNew ? await freshClusterDump() : undefined;
    const db = await PGlite.create({
      ...(dataDir ? { dataDir } : {}),
      ...(loadDataDir ? { loadDataDir } : {}),
      parsers: PGLITE_PARSERS,
    });
    return new PgliteDatabase(db as unknown as PGlite);
  }

  async query<R = Record<string, any>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    return toResult<R>(await runQuery(this.db, sql, params));
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>, options: { isolation?: IsolationLevel } = {}): Promise<T> {
    return this.db.transaction(async (tx) => {
      if (options.isolation) await tx.query(`SET TRANSACTION ISOLATION LEVEL ${options.isolation.toUpperCase()}`);
      return work({
        query: async <R>(sql: string, params?: readonly unknown[]) => toResult<R>(await runQuery(tx, sql, params)),
      });
    });
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
  }
}

type Runner = Pick<PGlite, 'query' | 'exec'>;

// Parameterless statements may hold several commands (migrations); PGlite's `query` takes exactly one.
async function runQuery(db: Runner, sql: string, params?: readonly unknown[]) {
  if (params && params.length > 0) return db.query(sql, params as unknown[]);
  const results = await db.exec(sql);
  return results[results.length - 1] ?? { rows: [], affectedRows: 0 };
}

function toResult<R>(result: { rows: unknown[]; affectedRows?: number }): QueryResult<R> {
  return { rows: result.rows as R[], rowCount: result.affectedRows || result.rows.length };
}

let dumpInProcess: Promise<Blob> | undefined;

/** The dump of an empty cluster, made once per PGlite version and kept in the temp folder. */
function freshClusterDump(): Promise<Blob> {
  dumpInProcess ??= (async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const version = await pgliteVersion();
    const file = path.join(process.env.KANTOOR_PGLITE_TEMPLATE_DIR ?? os.tmpdir(), `kantoor-pglite-${version}.tar`);
    try {
      return new Blob([await readFile(file)]);
    } catch {
      const db = await PGlite.create();
      const dump = await db.dumpDataDir('none');
      await db.close();
      await mkdir(path.dirname(file), { recursive: true });
      const partial = `${file}.${process.pid}.tmp`;
      await writeFile(partial, Buffer.from(await dump.arrayBuffer()));
      await rename(partial, file);
      return dump;
    }
  })();
  return dumpInProcess;
}

async function pgliteVersion(): Promise<string> {
  // the package does not export its package.json; find it above the resolved entry point
  for (
    let dir = path.dirname(require.resolve('@electric-sql/pglite'));
    dir !== path.dirname(dir);
    dir = path.dirname(dir)
  ) {
    try {
      const manifest = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version: string;
      };
      if (manifest.name === '@electric-sql/pglite') return manifest.version;
    } catch {
      // no package.json at this level
    }
  }
  return 'unknown';
}
