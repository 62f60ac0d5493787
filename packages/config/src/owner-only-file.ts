import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The content of `file`, created with `create()` when it does not exist yet: readable by the owner only (0600 in
 * a 0700 folder), complete before it gets its name (a crash never leaves half a secret), and when several
 * starts race, the first writer wins and every one of them reads its content.
 */
export async function readOrCreateOwnerOnlyFile(file: string, create: () => string | Promise<string>): Promise<string> {
  const kept = await readKept(file);
  if (kept) return kept;
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  await writeFile(draft, await create(), { mode: 0o600, flush: true });
  try {
    await link(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(draft);
  }
  return (await readKept(file))!;
}

async function readKept(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
