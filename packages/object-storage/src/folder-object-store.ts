import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { ContentDigest, toReadable } from './content-digest';
import { compareKeys, validateListPrefix, validateObjectKey } from './object-keys';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions, StoredObject } from './object-store';
import { rangeNotSatisfiable, validatePutOptions, validateRange } from './put-options';
import { objectNotFound, refuseIfRetained, refuseShortening, validateNewRetention } from './retention';

/**
 * Objects in a local folder (embedded mode). Each key is a directory, so that "a" and "a/b" can both exist
 * as they can on S3; it holds the bytes (`@<id>.bytes`) and a sidecar (`@object.json`) describing them. The
 * sidecar is written last, by rename, so it is the commit point: a crash leaves either the old object or the
 * new one, plus leftovers that the next write of that key sweeps away. Key segments that start with "@" are
 * stored with one more "@" so they never meet the store's own files.
 *
 * One process per root: overwrites and retention checks are serialised per key within this process.
 */
const SIDECAR = '@object.json';
const LEFTOVER = /^@[^@].*\.(part|bytes|tmp)$/;

interface Sidecar {
  key: string;
  size: number;
  sha256: string;
  contentType: string;
  lastModified: string;
  retainUntil: string | null;
  legalHold: boolean;
  metadata: Record<string, string>;
  /** file name of the bytes, beside the sidecar */
  content: string;
}

/** O_DSYNC: each write returns once it is on disk, which spares the small sidecar a separate fsync call. */
const DURABLE_NEW_FILE =
  constants.O_DSYNC === undefined
    ? null
    : constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DSYNC;

// one read for a usual sidecar (a few hundred bytes); small enough to come from the shared buffer pool
const SIDECAR_READ_BYTES = 2 * 1024;
// bytes are read in chunks of at most this size: one read for most documents, bounded memory for large ones
const READ_CHUNK_BYTES = 256 * 1024;

const errorCode = (error: unknown) => (error as NodeJS.ErrnoException | null)?.code;
const toName = (segment: string) => (segment.startsWith('@') ? `@${segment}` : segment);
const toSegment = (name: string) => (name.startsWith('@@') ? name.slice(1) : name.startsWith('@') ? null : name);

function toObjectInfo(sidecar: Sidecar): ObjectInfo {
  return {
    key: sidecar.key,
    size: sidecar.size,
    contentType: sidecar.contentType,
    lastModified: new Date(sidecar.lastModified),
    retainUntil: sidecar.retainUntil ? new Date(sidecar.retainUntil) : null,
    legalHold: sidecar.legalHold,
    metadata: sidecar.metadata,
  };
}

/** Runs one operation at a time per key; the others on that key wait their turn. */
class KeyQueue {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, operation: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(operation);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await result;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }
}

/** Writes a whole chunk: a write to a file may take fewer bytes than it was given. */
async function writeAll(handle: FileHandle, chunk: Buffer): Promise<void> {
  for (let offset = 0; offset < chunk.length;) {
    const { bytesWritten } = await handle.write(chunk, offset, chunk.length - offset);
    offset += bytesWritten;
  }
}

/**
 * A sidecar's text in one read: open, read, close, without the stat that readFile makes first. A read of a
 * regular file that returns less than asked has reached its end.
 */
async function readSmallFile(path: string): Promise<string> {
  const handle = await open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    for (;;) {
      const buffer = Buffer.allocUnsafe(SIDECAR_READ_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      chunks.push(buffer.subarray(0, bytesRead));
      if (bytesRead < buffer.length) return Buffer.concat(chunks).toString('utf8');
    }
  } finally {
    await handle.close();
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export class FolderObjectStore implements ObjectStore {
  private readonly queue = new KeyQueue();

  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  async ensureRoot(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async put(
    key: string,
    body: NodeJS.ReadableStream | Buffer | Uint8Array,
    options?: PutOptions,
  ): Promise<StoredObject> {
    validateObjectKey(key);
    const put = validatePutOptions(options);
    return this.queue.run(key, async () => {
      const directory = this.directoryOf(key);
      const previous = await this.readSidecar(directory);
      if (previous) refuseIfRetained(toObjectInfo(previous), 'overwritten');

      const content = `@${randomUUID()}.bytes`;
      const digest = new ContentDigest(key, put.sha256);
      let created = false;
      let committed = false;
      try {
        const opened = await this.createFile(directory, join(directory, content), !previous);
        created = opened.createdDirectory;
        const bytes = opened.handle;
        let sidecar: Sidecar;
        try {
          await pipeline(toReadable(body), digest, async (chunks: AsyncIterable<Buffer>) => {
            for await (const chunk of chunks) await writeAll(bytes, chunk);
          });
          sidecar = {
            key,
            size: digest.size,
            sha256: digest.sha256(),
            contentType: put.contentType,
            lastModified: new Date().toISOString(),
            retainUntil: put.retainUntil?.toISOString() ?? null,
            legalHold: false,
            metadata: put.metadata,
            content,
          };
          // The bytes and the sidecar that names them are both on disk before the rename makes the sidecar
          // current; neither waits for the other. Both settle before anything is swept on failure.
          const [synced, written] = await Promise.allSettled([
            bytes.sync(),
            this.writeTemporarySidecar(directory, sidecar),
          ]);
          if (synced.status === 'rejected') throw synced.reason;
          if (written.status === 'rejected') throw written.reason;
          await rename(written.value, join(directory, SIDECAR));
          committed = true;
        } finally {
          await bytes.close();
        }
        await syncDirectory(directory);
      } catch (error) {
        // whatever the sidecar names now stays; everything this attempt wrote besides goes
        await this.sweep(directory, committed ? content : previous?.content);
        if (!committed && !previous) await this.prune(directory);
        throw error;
      }
      // A folder this put created holds nothing else; one that existed may hold replaced bytes or leftovers.
      if (!created) await this.sweep(directory, content);
      return { key, size: digest.size, sha256: digest.sha256() };
    });
  }

  async get(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    validateObjectKey(key);
    const wanted = validateRange(range);
    const directory = this.directoryOf(key);
    // An overwrite may replace the bytes between reading the sidecar and opening them; the next sidecar
    // then names the new bytes. Once open, the file stays readable even if it is replaced.
    for (let attempt = 1; ; attempt++) {
      const sidecar = await this.readSidecar(directory);
      if (!sidecar) throw objectNotFound(key);
      if (wanted && wanted.start >= sidecar.size) throw rangeNotSatisfiable(key, wanted.start, sidecar.size);
      try {
        const handle = await open(join(directory, sidecar.content), 'r');
        // the bytes file never changes once named, so its size is the sidecar's: no read past the end to find it
        const last = sidecar.size - 1;
        if (last < 0) return handle.createReadStream();
        const start = wanted?.start ?? 0;
        const end = Math.min(wanted?.end ?? last, last);
        return handle.createReadStream({ start, end, highWaterMark: Math.min(end - start + 1, READ_CHUNK_BYTES) });
      } catch (error) {
        if (errorCode(error) !== 'ENOENT' || attempt === 3) throw error;
      }
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    validateObjectKey(key);
    const sidecar = await this.readSidecar(this.directoryOf(key));
    return sidecar ? toObjectInfo(sidecar) : null;
  }

  async delete(key: string): Promise<void> {
    validateObjectKey(key);
    await this.queue.run(key, async () => {
      const directory = this.directoryOf(key);
      const sidecar = await this.readSidecar(directory);
      if (!sidecar) throw objectNotFound(key);
      refuseIfRetained(toObjectInfo(sidecar), 'deleted');
      await rm(join(directory, SIDECAR));
      await syncDirectory(directory);
      await this.sweep(directory);
      await this.prune(directory);
    });
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    validateListPrefix(prefix);
    const whole = prefix.split('/').slice(0, -1);
    const start = join(this.root, ...whole.map(toName));
    return this.walk(start, whole.length > 0 ? `${whole.join('/')}/` : '', prefix);
  }

  async setRetention(key: string, retainUntil: Date): Promise<void> {
    validateObjectKey(key);
    validateNewRetention(retainUntil);
    await this.queue.run(key, async () => {
      const directory = this.directoryOf(key);
      const sidecar = await this.readSidecar(directory);
      if (!sidecar) throw objectNotFound(key);
      refuseShortening(toObjectInfo(sidecar), retainUntil);
      await this.writeSidecar(directory, { ...sidecar, retainUntil: retainUntil.toISOString() });
    });
  }

  async setLegalHold(key: string, hold: boolean): Promise<void> {
    validateObjectKey(key);
    await this.queue.run(key, async () => {
      const directory = this.directoryOf(key);
      const sidecar = await this.readSidecar(directory);
      if (!sidecar) throw objectNotFound(key);
      await this.writeSidecar(directory, { ...sidecar, legalHold: hold });
    });
  }

  private directoryOf(key: string): string {
    return join(this.root, ...key.split('/').map(toName));
  }

  /**
   * Visits a directory's objects and subtrees in key order: the object "a" sorts as "a" but its subtree as
   * "a/", so that "a.b" (and everything under it) comes between them, as S3 lists.
   */
  private async *walk(directory: string, directoryKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return;
      throw error;
    }
    const visits: { sortKey: string; path: string; subtree: boolean }[] = [];
    for (const entry of entries) {
      const segment = entry.isDirectory() ? toSegment(entry.name) : null;
      if (segment === null) continue;
      const path = join(directory, entry.name);
      const key = directoryKey + segment;
      if (key.startsWith(prefix)) visits.push({ sortKey: key, path, subtree: false });
      const subtree = `${key}/`;
      if (subtree.startsWith(prefix) || prefix.startsWith(subtree))
        visits.push({ sortKey: subtree, path, subtree: true });
    }
    visits.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const visit of visits) {
      if (visit.subtree) {
        yield* this.walk(visit.path, visit.sortKey, prefix);
      } else {
        const sidecar = await this.readSidecar(visit.path);
        if (sidecar) yield toObjectInfo(sidecar);
      }
    }
  }

  private async readSidecar(directory: string): Promise<Sidecar | null> {
    try {
      return JSON.parse(await readSmallFile(join(directory, SIDECAR))) as Sidecar;
    } catch (error) {
      if (errorCode(error) === 'ENOENT' || errorCode(error) === 'ENOTDIR') return null;
      throw error;
    }
  }

  private async writeSidecar(directory: string, sidecar: Sidecar): Promise<void> {
    await rename(await this.writeTemporarySidecar(directory, sidecar), join(directory, SIDECAR));
    await syncDirectory(directory);
  }

  /** Writes the sidecar to disk under a temporary name, ready to be renamed into place; answers that name. */
  private async writeTemporarySidecar(directory: string, sidecar: Sidecar): Promise<string> {
    const temporary = join(directory, `@${randomUUID()}.tmp`);
    const handle = await open(temporary, DURABLE_NEW_FILE ?? 'wx');
    try {
      await handle.writeFile(JSON.stringify(sidecar, null, 2));
      if (DURABLE_NEW_FILE === null) await handle.sync();
    } finally {
      await handle.close();
    }
    return temporary;
  }

  /**
   * Creates a new file in the key's folder, creating the folder (and its parents) when it is missing. A
   * concurrent delete of a neighbouring key may prune a fresh folder before the file is in it: then again.
   * `createdDirectory`: this call made the key's folder, so nothing else is in it.
   */
  private async createFile(
    directory: string,
    path: string,
    mayBeMissing: boolean,
  ): Promise<{ handle: FileHandle; createdDirectory: boolean }> {
    let createdDirectory = false;
    // a key without an object usually has no folder yet: make it first rather than fail the open
    if (mayBeMissing) createdDirectory = (await mkdir(directory, { recursive: true })) !== undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        return { handle: await open(path, 'wx'), createdDirectory };
      } catch (error) {
        if (errorCode(error) !== 'ENOENT' || attempt === 3) throw error;
      }
      createdDirectory = (await mkdir(directory, { recursive: true })) !== undefined;
    }
  }

  /** Removes this key's files other than the sidecar and `keep`: replaced bytes and leftovers of crashes. */
  private async sweep(directory: string, keep?: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      if (entry.isFile() && entry.name !== keep && LEFTOVER.test(entry.name)) {
        await rm(join(directory, entry.name), { force: true });
      }
    }
  }

  /** Removes the key's directory and its parents as long as they are empty. */
  private async prune(directory: string): Promise<void> {
    for (let current = directory; current.startsWith(this.root + sep); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch (error) {
        if (errorCode(error) === 'ENOENT') continue;
        if (errorCode(error) === 'ENOTEMPTY' || errorCode(error) === 'EEXIST') return;
        throw error;
      }
    }
  }
}
