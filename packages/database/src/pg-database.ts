import { Pool, Query, type PoolClient, type PoolConfig, type QueryConfig, type QueryResult as PgResult } from 'pg';
import { PG_TYPES } from './type-parsers';
import type { Database, IsolationLevel, Queryable, QueryResult } from './database';

// SQLSTATEs worth another try: serialization_failure, deadlock_detected
const RETRYABLE = new Set(['40001', '40P01']);

/** Cluster adapter: a `pg` pool; every transaction gets a connection of its own. */
export class PgDatabase implements Database {
  readonly dialect = 'postgres' as const;
  readonly pool: Pool;

  constructor(config: PoolConfig | string) {
    const base: PoolConfig = typeof config === 'string' ? { connectionString: config, max: 10 } : config;
    this.pool = new Pool({ ...base, types: PG_TYPES });
    // an idle client losing its connection must not crash the process; the pool replaces it
    this.pool.on('error', () => undefined);
  }

  private readonly statements = new StatementNames();

  async query<R = Record<string, any>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    const result = await this.pool.query(this.statements.config(sql, params));
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  async transaction<T>(
    work: (tx: Queryable) => Promise<T>,
    options: { isolation?: IsolationLevel; retries?: number } = {},
  ): Promise<T> {
    const retries = options.retries ?? 3;
    const begin = options.isolation ? `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}` : 'BEGIN';
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      const tx = new PgTransaction(client, this.statements, begin);
      try {
        const result = await work(tx);
        await tx.end('COMMIT');
        client.release();
        return result;
      } catch (error) {
        await tx.end('ROLLBACK').catch(() => undefined);
        client.release();
        const code = (error as { code?: string }).code;
        if (attempt < retries && code && RETRYABLE.has(code)) {
          await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt + Math.random() * 10));
          continue;
        }
        throw error;
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** Named statements kept per pool; beyond this many, statements run unnamed as before. */
const MAX_NAMED = 500;

/**
 * Statements with parameters run as named prepared statements, as on PGlite: PostgreSQL parses and plans each
 * once per connection instead of at every run (half its CPU for the archive's short ingest statements). A name
 * stands for one SQL text in this process, so a connection never meets one name with two texts.
 */
class StatementNames {
  private readonly names = new Map<string, string>();

  config(sql: string, params?: readonly unknown[]): QueryConfig {
    const values = params as unknown[] | undefined;
    if (!params || params.length === 0) return { text: sql, values };
    let name = this.names.get(sql);
    if (name === undefined && this.names.size < MAX_NAMED) {
      name = `kantoor_${this.names.size + 1}`;
      this.names.set(sql, name);
    }
    return name === undefined ? { text: sql, values } : { name, text: sql, values };
  }
}

/** What a query sent right behind its BEGIN uses of pg's connection (the messages pg's own Query sends). */
interface ProtocolConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parsedStatements: Record<string, string | undefined>;
  parse(query: { text: string }): void;
  bind(config: object): void;
  execute(config: object): void;
}

/**
 * A transaction's connection. Its BEGIN waits for the first statement and goes out with it, in one write and
 * one batch of the extended protocol (one Sync): one round trip for both instead of two, the same
 * transaction (the snapshot of repeatable read and serializable is taken at the first statement either way).
 * The first statement must be one the connection has prepared already: its answer then has no ParseComplete
 * that pg could take for the BEGIN's. Otherwise, and for statements without parameters (the simple protocol,
 * which may hold several commands), BEGIN goes first on its own as before. A transaction that ran nothing
 * sends nothing.
 */
class PgTransaction implements Queryable {
  private begun = false;

  constructor(
    private readonly client: PoolClient,
    private readonly statements: StatementNames,
    private readonly begin: string,
  ) {}

  async query<R>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>> {
    const config = this.statements.config(sql, params);
    if (!this.begun) {
      this.begun = true;
      // (what pg keeps of the connection, looked at defensively: without it, BEGIN goes on its own)
      const connection = (this.client as unknown as { connection?: Partial<ProtocolConnection> }).connection;
      if (config.name !== undefined && connection?.parsedStatements?.[config.name] === config.text) {
        const results = await behindBegin(this.client, this.begin, config);
        const result = results[results.length - 1];
        return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
      }
      await this.client.query(this.begin);
    }
    const result = await this.client.query(config);
    return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
  }

  /** COMMIT or ROLLBACK, when BEGIN went out. */
  async end(command: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    if (this.begun) await this.client.query(command);
  }
}

/** Runs a prepared statement right behind `begin`; its answer: the BEGIN's result, then the statement's. */
function behindBegin(client: PoolClient, begin: string, config: QueryConfig): Promise<PgResult[]> {
  return new Promise((resolve, reject) => {
    const query = new Query(config);
    const submit = query.submit.bind(query);
    query.submit = (connection) => {
      const protocol = connection as unknown as ProtocolConnection;
      protocol.stream.cork?.();
      try {
        protocol.parse({ text: begin });
        protocol.bind({});
        protocol.execute({});
        return submit(connection);
      } finally {
        protocol.stream.uncork?.();
      }
    };
    (query as unknown as { callback: (error: Error | null, results?: PgResult | PgResult[]) => void }).callback = (
      error,
      results,
    ) => {
      if (!error) return resolve([results!].flat());
      // a stack that leads back to the caller rather than to the socket, as pg gives its own queries
      Error.captureStackTrace(error);
      reject(error);
    };
    void client.query(query);
  });
}
