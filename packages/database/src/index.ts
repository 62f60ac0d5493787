export * from './database';
export { PgDatabase } from './pg-database';
export { PgliteDatabase } from './pglite-database';
export { migrate, readMigrations, type Migration, type MigrationReport } from './migrations';
export { openDatabase, type DatabaseSettings } from './open-database';
export { decodeCursor, encodeCursor } from './page-cursor';
