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
 * Embedded adapter over PGlite. PGlite is a single session: a transaction here blocks every other query of
 * this database until it ends. That is the price of embedded mode; anything that relies on concurrent
 * sessions is tested on PostgreSQL.
 *
 * The adapter takes its turns on the session itself (`Turns`), and its prepared statements (below) do not
 * go through PGlite's own mutexes. Those come from async-mutex 0.4, bundled into PGlite and compiled to
 * generator-based awaiters, and a call through one of them kept whatever its callback touched alive through
 * two young-generation collections, so it was promoted to the old generation (`--trace-gc-nvp`, Node 20: 200
 * bytes per `runExclusive` of a small result, against 24 for the same work under native async functions).
 * A prepared lookup went through three of them (PGlite's transaction, query and file-sync mutexes) and
 * promoted 1.7 KB: the query, its rows and the caller's objects waiting on it. In the embedded platform the
 * directory's thread promoted 2 KB of every gateway request that way, and its full collections (3–6 per 10
 * s under load, pauses of 12–53 ms) added about 6 ms to the gateway's p99. PGlite's mutexes are still taken,
 * uncontended, by the statements that go through its own `query` and `transaction`.
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

  /** every use of the session, one after the other: statements outside transactions, and whole transactions */
  private readonly session = new Turns();

  async query<R = Record<string, any>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    if (params && params.length > 0 && this.statements.take(sql))
      return this.session.run(() => this.statements.run<R>(sql, params));
    return this.session.run(async () => toResult<R>(await runQuery(this.db, sql, params)));
  }

  async transaction<T>(work: (tx: Queryable) => Promise<T>, options: { isolation?: IsolationLevel } = {}): Promise<T> {
    return this.session.run(() =>
      this.db.transaction(async (tx) => {
        if (options.isolation) await tx.query(`SET TRANSACTION ISOLATION LEVEL ${options.isolation.toUpperCase()}`);
        // statements the work starts together still run one at a time, in the order they were started
        const statements = new Turns();
        return work({
          query: <R>(sql: string, params?: readonly unknown[]) =>
            statements.run(async () =>
              params && params.length > 0 && this.statements.take(sql)
                ? this.statements.run<R>(sql, params)
                : toResult<R>(await runQuery(tx, sql, params)),
            ),
        });
      }),
    );
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
  /** the columns of the statement's rows (none for statements without rows) */
  columns: Column[];
}

/** Named statements kept per database; beyond this many, statements run unnamed as before. */
const MAX_PREPARED = 500;

/**
 * Named prepared statements on PGlite. Its `query()` parses, describes and plans every statement again in
 * six round trips into WebAssembly (~0.25 ms for a one-row lookup, far more for the access-facts query);
 * a statement prepared once and then bound and executed in one round trip costs a tenth of that. PGlite
 * has no API for named statements, so this speaks the extended protocol through `execProtocol`, with
 * PGlite's own value serializers and parsers so the rows look exactly as `query()` returns them.
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

  /**
   * Runs under the adapter's turn on the session (`Turns`), which keeps every other statement out, so not under
   * PGlite's query mutex. Nor does it ask PGlite to sync its file system: the file systems PGlite has on Node
   * (in memory, and NodeFS for a data folder) write through, and their `syncToFs` does nothing (a test checks).
   */
  async run<R>(sql: string, params: readonly unknown[]): Promise<QueryResult<R>> {
    const statement = await this.prepare(sql);
    const values = params.map((param, i): string | Uint8Array | null => {
      if (param === null || param === undefined) return null;
      const serializer = this.db.serializers[statement.parameterTypes[i]];
      return serializer ? (serializer(param) as string | Uint8Array) : String(param);
    });
    const response = new ResponseBytes();
    await this.db.execProtocolRawStream(bindExecuteSync(statement.name, values), {
      syncToFs: false,
      onRawData: response.add,
    });
    return resultOfResponse<R>(statement.columns, response.bytes(), this.db.parsers, this.pglite.protocol);
  }

  /** Called in the adapter's turn on the session. A statement that fails to parse is not kept, and throws here. */
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
        columns: (messages as unknown as ResultMessage[])
          .filter((message) => message.name === 'rowDescription')
          .flatMap((message) => (message.fields as Column[]).map(({ name, dataTypeID }) => ({ name, dataTypeID }))),
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

/**
 * Work that takes turns: each `run` begins once the work run before it has ended (resolved or failed), in
 * the order `run` was called. Native promises only (see PgliteDatabase).
 */
export class Turns {
  private last: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const turn = this.last.then(work);
    this.last = turn.then(ignore, ignore);
    return turn;
  }
}

const ignore = () => undefined;

interface Column {
  name: string;
  dataTypeID: number;
}

/** The backend messages a statement's result is read from, as PGlite's protocol parser gives them. */
interface ResultMessage {
  name: string;
  /** rowDescription: the columns (Column); dataRow: each column's text, or null */
  fields?: readonly unknown[];
  /** commandComplete: e.g. "UPDATE 3" */
  text?: string;
}

/**
 * The backend's answer to a statement, copied out of PGlite's WebAssembly memory as it writes it (the bytes it
 * hands over are a view of that memory, valid only during the call).
 */
class ResponseBytes {
  private readonly chunks: Buffer[] = [];

  readonly add = (chunk: Uint8Array): void => void this.chunks.push(Buffer.from(chunk));

  bytes(): Buffer {
    return this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
  }
}

/**
 * The rows and row count of a prepared statement's answer (Bind, Execute and Sync: BindComplete, DataRow…,
 * CommandComplete or EmptyQueryResponse, ReadyForQuery), read straight from the protocol bytes: each text
 * value is one `toString` of the buffer. PGlite's own reader (`execProtocol`) copies every value into an
 * ArrayBuffer of its own before decoding it, a third of a one-row lookup's time; its `parseResults` also had
 * the young-generation collections promote every row it made (0.35 KB of each one-row lookup,
 * `--trace-gc-nvp`), which rows made here are not. An answer with an
 * ErrorResponse is read by PGlite's protocol parser instead, and its first error thrown, as `execProtocol`
 * does, so that a failed statement fails with the same DatabaseError (code, constraint, detail…) either way.
 */
function resultOfResponse<R>(
  columns: readonly Column[],
  response: Buffer,
  parsers: Record<number, (value: string, type: number) => unknown>,
  protocol: PgliteModule['protocol'],
): QueryResult<R> {
  const rows: R[] = [];
  let changed = 0;
  for (let at = 0; at < response.length;) {
    const type = response[at];
    const end = at + 1 + response.readInt32BE(at + 1);
    if (type === DATA_ROW) {
      const row: Record<string, unknown> = {};
      const count = response.readInt16BE(at + 5);
      let field = at + 7;
      for (let i = 0; i < count; i++) {
        const length = response.readInt32BE(field);
        field += 4;
        const { name, dataTypeID } = columns[i];
        if (length < 0) row[name] = null;
        else {
          const value = response.toString('utf8', field, field + length);
          const parse = parsers[dataTypeID];
          row[name] = parse ? parse(value, dataTypeID) : value;
          field += length;
        }
      }
      rows.push(row as R);
    } else if (type === COMMAND_COMPLETE) {
      changed += changedRows(response.toString('utf8', at + 5, end - 1));
    } else if (type === ERROR_RESPONSE) {
      throw firstDatabaseError(response, protocol);
    }
    at = end;
  }
  return toResult<R>({ rows, affectedRows: changed });
}

const DATA_ROW = 0x44; // 'D'
const COMMAND_COMPLETE = 0x43; // 'C'
const ERROR_RESPONSE = 0x45; // 'E'

/** The rows a command tag says were changed: "UPDATE 3", "INSERT 0 1"; none for "SELECT 2" and the like. */
function changedRows(tag: string): number {
  if (!/^(INSERT|UPDATE|DELETE|COPY|MERGE) /.test(tag)) return 0;
  return parseInt(tag.slice(tag.lastIndexOf(' ') + 1), 10) || 0;
}

function firstDatabaseError(response: Buffer, protocol: PgliteModule['protocol']): Error {
  let error: Error | undefined;
  new protocol.Parser().parse(response, (message) => {
    if (!error && message instanceof Error) error = message;
  });
  return error ?? new Error('PGlite answered with an error the protocol parser could not read');
}

/** Execute (the unnamed portal, every row) and Sync, as PostgreSQL's frontend protocol writes them. */
const EXECUTE_AND_SYNC = Buffer.from([0x45, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0x53, 0, 0, 0, 4]);

/**
 * Bind (the unnamed portal to `statement` with `values`: text, binary or NULL; every result column as text),
 * Execute and Sync: one message to PGlite. Written here rather than with PGlite's bundled serializer, whose
 * shared writer allocates new buffers for every message: the young-generation collections promoted them (0.35
 * KB of every statement, `--trace-gc-nvp`); written here, nothing.
 */
function bindExecuteSync(statement: string, values: ReadonlyArray<string | Uint8Array | null>): Buffer {
  const lengths = values.map((value) =>
    value === null ? -1 : typeof value === 'string' ? Buffer.byteLength(value) : value.byteLength,
  );
  const bindLength =
    4 +
    1 +
    Buffer.byteLength(statement) +
    1 +
    2 +
    2 * values.length +
    2 +
    2 +
    lengths.reduce((sum, length) => sum + 4 + Math.max(length, 0), 0);
  const message = Buffer.allocUnsafe(1 + bindLength + EXECUTE_AND_SYNC.length);
  message[0] = 0x42; // 'B'
  let at = message.writeInt32BE(bindLength, 1);
  message[at++] = 0; // the unnamed portal
  at += message.write(statement, at);
  message[at++] = 0;
  at = message.writeInt16BE(values.length, at);
  for (const value of values) at = message.writeInt16BE(value instanceof Uint8Array ? 1 : 0, at);
  at = message.writeInt16BE(values.length, at);
  values.forEach((value, i) => {
    at = message.writeInt32BE(lengths[i], at);
    if (typeof value === 'string') at += message.write(value, at);
    else if (value !== null) {
      message.set(value, at);
      at += value.byteLength;
    }
  });
  at = message.writeInt16BE(0, at); // no result format codes: all text
  EXECUTE_AND_SYNC.copy(message, at);
  return message;
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
