import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
// what the prepared statements use of the module, as the dynamic import() in open() types it
type PgliteModule = Pick<
  typeof import('@electric-sql/pglite', { with: { 'resolution-mode': 'import' } }),
  'parse' | 'protocol'
>;
import type { Database, IsolationLevel, Queryable, QueryResult } from './database';
import { PGLITE_PARSERS } from './type-parsers';

const SHARED_BUFFERS = '16MB';

/**
 * Embedded adapter over PGlite. PGlite is a single session: its own mutex serialises queries and
 * transactions, so a transaction here blocks every other query of this database until it ends. That is
 * the price of embedded mode; anything that relies on concurrent sessions is tested on PostgreSQL.
 */
export class PgliteDatabase implements Database {
  readonly dialect = 'pglite' as const;

  private readonly statements: PreparedStatements;

  private constructor(
    readonly db: PGlite,
    pglite: PgliteModule,
  ) {
    this.statements = new PreparedStatements(db, pglite);
  }

  /**
   * `dataDir` undefined: in memory; otherwise a folder kept between restarts. A new database starts from
   * a dump of a freshly initialised cluster instead of running initdb: initdb costs seconds of WASM per
   * database, the dump under half a second, and embedded mode opens one database per service.
   */
  static async open(dataDir?: string): Promise<PgliteDatabase> {
    const pglite = await import('@electric-sql/pglite');
    const { PGlite } = pglite;
    const isNew = !dataDir || !existsSync(path.join(dataDir, 'PG_VERSION'));
    const loadDataDir = isNew ? await freshClusterDump() : undefined;
    const db = await PGlite.create({
      ...(dataDir ? { dataDir } : {}),
      ...(loadDataDir ? { loadDataDir } : {}),
      parsers: PGLITE_PARSERS,
      // PostgreSQL's default 128 MB of shared buffers, once touched, stays in the WASM memory of every
      // database; embedded mode opens eight. The operating system's file cache serves the rest.
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${SHARED_BUFFERS}`],
    });
    return new PgliteDatabase(db as unknown as PGlite, pglite);
  }

  async query<R = Record<string, any>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    if (params && params.length > 0 && this.statements.take(sql)) {
      // the transaction mutex, as PGlite's own query() takes it: never between a transaction's statements
      return this.db._runExclusiveTransaction(() => this.statements.run<R>(sql, params, false));
    }
    return toResult<R>(await runQuery(this.db, sql, params));
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>, options: { isolation?: IsolationLevel } = {}): Promise<T> {
    return this.db.transaction(async (tx) => {
      if (options.isolation) await tx.query(`SET TRANSACTION ISOLATION LEVEL ${options.isolation.toUpperCase()}`);
      return work({
        query: async <R>(sql: string, params?: readonly unknown[]) =>
          params && params.length > 0 && this.statements.take(sql)
            ? this.statements.run<R>(sql, params, true)
            : toResult<R>(await runQuery(tx, sql, params)),
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

interface Prepared {
  name: string;
  parameterTypes: number[];
  /** the statement's RowDescription, or none for statements without rows */
  rowDescription: unknown[];
}

/** Named statements kept per database; beyond this many, statements run unnamed as before. */
const MAX_PREPARED = 500;

/**
 * Named prepared statements on PGlite. Its `query()` parses, describes and plans every statement again in
 * six round trips into WebAssembly (~0.25 ms for a one-row lookup, far more for the access-facts query);
 * a statement prepared once and then bound and executed in one round trip costs a tenth of that. PGlite
 * has no API for named statements, so this speaks the extended protocol through `execProtocol`, with
 * PGlite's own serializers and result parser so the rows look exactly as `query()` returns them.
 */
class PreparedStatements {
  private readonly prepared = new Map<string, Promise<Prepared | undefined>>();

  constructor(
    private readonly db: PGlite,
    private readonly pglite: PgliteModule,
  ) {}

  /** Whether `sql` runs as a named statement (false once the cache is full and `sql` is not in it). */
  take(sql: string): boolean {
    return this.prepared.has(sql) || this.prepared.size < MAX_PREPARED;
  }

  async run<R>(sql: string, params: readonly unknown[], inTransaction: boolean): Promise<QueryResult<R>> {
    const { serialize } = this.pglite.protocol;
    return this.db.runExclusive(async () => {
      const statement = await this.prepare(sql);
      const values = params.map((param, i) => {
        if (param === null || param === undefined) return null;
        const serializer = this.db.serializers[statement.parameterTypes[i]];
        return serializer ? serializer(param) : String(param);
      });
      const { messages } = await this.db.execProtocol(
        concat([serialize.bind({ statement: statement.name, values }), serialize.execute({}), serialize.sync()]),
        { syncToFs: !inTransaction },
      );
      const [result] = this.pglite.parse.parseResults(
        [...(statement.rowDescription as typeof messages), ...messages],
        this.db.parsers,
      );
      return toResult<R>(result);
    });
  }

  /** Called under PGlite's query mutex. A statement that fails to parse is not kept, and throws here. */
  private async prepare(sql: string): Promise<Prepared> {
    const known = this.prepared.get(sql);
    if (known) return (await known)!;
    const name = `kantoor_${this.prepared.size + 1}`;
    const { serialize } = this.pglite.protocol;
    const preparing = this.db
      .execProtocol(
        concat([
          serialize.parse({ name, text: sql, types: [] }),
          serialize.describe({ type: 'S', name }),
          serialize.sync(),
        ]),
        { syncToFs: false },
      )
      .then(({ messages }) => ({
        name,
        parameterTypes: this.pglite.parse.parseDescribeStatementResults(messages),
        rowDescription: messages.filter((message) => message.name === 'rowDescription'),
      }));
    this.prepared.set(
      sql,
      preparing.catch(() => undefined),
    );
    try {
      return await preparing;
    } catch (error) {
      this.prepared.delete(sql);
      throw error;
    }
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

let dumpInProcess: Promise<Blob> | undefined;

/** The dump of an empty cluster, made once per PGlite version and kept in the temp folder. */
function freshClusterDump(): Promise<Blob> {
  dumpInProcess ??= (async () => {
    const { PGlite } = await import('@electric-sql/pglite');
    const version = await pgliteVersion();
    const file = path.join(
      process.env.KANTOOR_PGLITE_TEMPLATE_DIR ?? os.tmpdir(),
      `kantoor-pglite-${version}-slim.tar`,
    );
    try {
      return new Blob([await readFile(file)]);
    } catch {
      const db = await PGlite.create();
      // Only the database PGlite opens (postgres) is ever used: nothing here creates databases, so the two
      // template databases go, and every new data folder is a third smaller to write (embedded mode makes eight).
      for (const template of ['template0', 'template1']) {
        await db.exec(`UPDATE pg_database SET datistemplate = false WHERE datname = '${template}'`);
        await db.exec(`DROP DATABASE ${template}`);
      }
      await db.exec('CHECKPOINT');
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
