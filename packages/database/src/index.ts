export * from './database';
export { PgDatabase } from './pg-database';
export { PgliteDatabase } from './pglite-database';
export { migrate, readMigrations, type Migration, type MigrationReport } from './migrations';
export { openDatabase, type DatabaseSettings } from './open-database';
export {
  decodeCursor,
  DEFAULT_PAGE_SIZE,
  encodeCursor,
  isPostgresTime,
  isSerialId,
  MAX_PAGE_SIZE,
  pageOfRows,
  pageSizeOf,
} from './page-cursor';
