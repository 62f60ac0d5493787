import { Pool, type PoolClient, type PoolConfig, type QueryConfig } from 'pg';
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
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      try {
        await client.query(options.isolation ? `BEGIN ISOLATION LEVEL ${options.isolation.toUpperCase()}` : 'BEGIN');
        const result = await work(clientQueryable(client, this.statements));
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
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

function clientQueryable(client: PoolClient, statements: StatementNames): Queryable {
  return {
    async query<R>(sql: string, params?: readonly unknown[]) {
      const result = await client.query(statements.config(sql, params));
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    },
  };
}
