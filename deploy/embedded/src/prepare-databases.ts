/**
 * Part of the build: makes the dump of an empty PostgreSQL cluster that every embedded database starts from
 * (see PgliteDatabase.open), so that the first `pnpm start` does not spend seconds in initdb.
 */
import { PgliteDatabase } from '@kantoor/database';

PgliteDatabase.open()
  .then((db) => db.close())
  .catch((error) => {
    process.stderr.write(`could not prepare the embedded database template: ${(error as Error).message}\n`);
    process.exit(1);
  });
