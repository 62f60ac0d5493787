import { constants } from 'node:fs';
import { open, rmdir, type FileHandle } from 'node:fs/promises';
import { dirname, sep } from 'node:path';

/** File operations the folder store's layouts share. */

export const errorCode = (error: unknown) => (error as NodeJS.ErrnoException | null)?.code;

/** A missing file, or a path through something that is not a folder: the object is not there. */
export const isMissing = (error: unknown) => errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR';

/** A file opened for reading, or null when it is missing. */
export async function openIfPresent(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, 'r');
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

/** What both layouts record of an object's bytes. */
export interface StoredDescription {
  key: string;
  size: number;
  sha256: string;
  contentType: string;
  lastModified: string;
  retainUntil: string | null;
  metadata: Record<string, string>;
}

/** O_DSYNC: each write returns once it is on disk, which spares a small file a separate fsync call. */
const DURABLE_WRITE = constants.O_DSYNC === undefined ? null : constants.O_WRONLY | constants.O_DSYNC;

/**
 * Writes a small file that is on disk when this returns, to be renamed into place. `replace`: truncate a file
 * left under that name (a per-key name), else refuse to (a unique name).
 */
export async function writeDurably(path: string, text: string, replace: boolean): Promise<void> {
  const create = constants.O_CREAT | (replace ? constants.O_TRUNC : constants.O_EXCL);
  const handle = await open(path, DURABLE_WRITE === null ? (replace ? 'w' : 'wx') : DURABLE_WRITE | create);
  try {
    await handle.writeFile(text);
    if (DURABLE_WRITE === null) await handle.sync();
  } finally {
    await handle.close();
  }
}

// one read for a usual small file (a few hundred bytes); small enough to come from the shared buffer pool
const SMALL_READ_BYTES = 2 * 1024;

/** Writes whole chunks, in one call when it takes them all: a write to a file may take fewer bytes than given. */
export async function writeAll(handle: FileHandle, ...chunks: Buffer[]): Promise<void> {
  const { bytesWritten } = await handle.writev(chunks);
  if (bytesWritten === chunks.reduce((sum, chunk) => sum + chunk.length, 0)) return;
  const rest = Buffer.concat(chunks).subarray(bytesWritten);
  for (let offset = 0; offset < rest.length;) {
    const { bytesWritten: written } = await handle.write(rest, offset, rest.length - offset);
    offset += written;
  }
}

/**
 * A small file's text in one read: open, read, close, without the stat that readFile makes first. A read of a
 * regular file that returns less than asked has reached its end.
 */
export async function readSmallFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const buffer = Buffer.allocUnsafe(SMALL_READ_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      chunks.push(buffer.subarray(0, bytesRead));
      if (bytesRead < buffer.length) return Buffer.concat(chunks).toString('utf8');
    }
  } finally {
    await handle.close();
  }
}

/** Brings a folder's entries (files created, renamed or removed in it) to disk. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Removes `directory` and its parents below `root` as long as they are empty. */
export async function pruneEmptyFolders(root: string, directory: string): Promise<void> {
  for (let current = directory; current.startsWith(root + sep); current = dirname(current)) {
    try {
      await rmdir(current);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') continue;
      if (errorCode(error) === 'ENOTEMPTY' || errorCode(error) === 'EEXIST') return;
      throw error;
    }
  }
}
