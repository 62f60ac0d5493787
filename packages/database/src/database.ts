/** The one database port every service uses; adapters: a `pg` pool (cluster) and PGlite (embedded). */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, any>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface Database extends Queryable {
  readonly dialect: 'postgres' | 'pglite';
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws.
   * Serialization failures and deadlocks are retried (up to `retries`, default 3) on PostgreSQL.
   */
  transaction<T>(
    work: (tx: Queryable) => Promise<T>,
    options?: { isolation?: IsolationLevel; retries?: number },
  ): Promise<T>;
  close(): Promise<void>;
}
