import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PgliteDatabase } from '@kantoor/database';
import { Turns } from '../src/pglite-database';

describe('turns on the PGlite session', () => {
  test('work runs one at a time, in the order it came, and a failure does not hold up the next', async () => {
    const turns = new Turns();
    const log: string[] = [];
    const step = (name: string, ms: number, fail = false) =>
      turns.run(async () => {
        log.push(`${name} begins`);
        await new Promise((resolve) => setTimeout(resolve, ms));
        log.push(`${name} ends`);
        if (fail) throw new Error(`${name} failed`);
        return name;
      });
    const results = await Promise.allSettled([step('a', 20), step('b', 1, true), step('c', 5)]);
    expect(log).toEqual(['a begins', 'a ends', 'b begins', 'b ends', 'c begins', 'c ends']);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});

describe("PGlite's file systems on Node", () => {
  // prepared statements run without asking PGlite to sync its file system (pglite-database.ts): that is right
  // only while the file systems it uses here write through and have nothing to sync; a PGlite that changes this
  // fails here
  test.each([
    ['in memory', undefined],
    ['a data folder', 'folder'],
  ])('%s has nothing to sync', async (_name, folder) => {
    const dir = folder && mkdtempSync(path.join(os.tmpdir(), 'kantoor-pglite-fs-'));
    const db = await PgliteDatabase.open(dir);
    try {
      const fs = (db.db as unknown as { fs: { syncToFs: () => Promise<void> } }).fs;
      expect(fs.syncToFs.toString()).toMatch(/^async syncToFs\([^)]*\)\s*\{\s*\}$/);
    } finally {
      await db.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  });
});
