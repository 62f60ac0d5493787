import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { ContentDigest, toReadable } from './content-digest';
import { DirectorySync } from './directory-sync';
import {
  isMissing,
  openIfPresent,
  pruneEmptyFolders,
  readSmallFile,
  writeAll,
  writeDurably,
  type StoredDescription,
} from './folder-files';
import {
  type KeyFolderSidecar,
  readKeyFolderSidecar,
  removeKeyFolderObject,
  rewriteKeyFolderSidecar,
  sidecarInfo,
} from './key-folder-layout';
import { compareKeys, validateListPrefix, validateObjectKey } from './object-keys';
import type { ByteRange, ObjectInfo, ObjectStore, PutOptions, StoredObject } from './object-store';
import { rangeNotSatisfiable, validatePutOptions, validateRange } from './put-options';
import { objectNotFound, refuseIfRetained, refuseShortening, validateNewRetention } from './retention';

/**
 * Objects in a local folder (embedded mode). The key's segments but the last are folders (escaped: a segment
 * that starts with "@" gets one more), so that "a" and "a/b" can both exist as they can on S3. The object itself
 * is one file in that folder, `@<sha256 of the last segment>.object`: the bytes, then their description (key,
 * size, SHA-256, type, retention, metadata, version) and a fixed footer giving the description's length. It is
 * written under `@<…>.tmp`, flushed to disk, then renamed into place (the commit point), and the folder's entry
 * is flushed too, shared by the puts that finish together (group commit). A crash leaves the previous object or
 * the whole new one; a half-written `.tmp` is overwritten by the next write of that key.
 *
 * Retention extended and legal hold set later live in `@<…>.state`, tagged with the object's version so that
 * it never applies to an object that replaced it. Objects of the earlier layout (a folder per key, see
 * key-folder-layout.ts) are read, updated and deleted where they are; a put replaces one by a new file.
 *
 * One process per root: overwrites and retention checks are serialised per key within this process.
 */
const OBJECT = '.object';
const STATE = '.state';
const TEMPORARY = '.tmp';
const OBJECT_FILE = /^@[0-9a-f]{64}\.object$/;
/**
 * In the root of a store that began empty with this layout: no key there can have an object of the earlier
 * layout, so finding an object takes one look instead of one per layout. Its presence is what counts.
 */
export const FILES_ONLY_MARKER = '@files-only';
// "@obj" and the description's length in 8 hex digits, after the description
const FOOTER_BYTES = 12;
const FOOTER_MARK = '@obj';
// the end of a file read at once: footer and a usual description (a few hundred bytes)
const TAIL_READ_BYTES = 4 * 1024;
// bytes are read in chunks of at most this size: one read for most documents, bounded memory for large ones
const READ_CHUNK_BYTES = 256 * 1024;
// a temporary file whose writes are on disk when they return (O_DSYNC), where the platform has it
const DURABLE_CREATE =
  constants.O_DSYNC === undefined
    ? null
    : constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DSYNC;

interface Description extends StoredDescription {
  /** tells this object from an earlier or later one under the same key */
  version: string;
}

/** What changes after the put: a retention extended, a legal hold set or released. */
interface State {
  version: string;
  retainUntil: string | null;
  legalHold: boolean;
}

/** Where a key's object lives: its folder and its file names without their ending. */
interface Place {
  key: string;
  directory: string;
  base: string;
  /** the folder of the earlier layout */
  keyFolder: string;
}

type Found =
  | { layout: 'file'; description: Description; state: State | null; info: ObjectInfo }
  | { layout: 'key-folder'; sidecar: KeyFolderSidecar; info: ObjectInfo };

const MARKER_TEXT =
  'Objects of this store are files (@<sha256 of the last key segment>.object); it never held a folder per key.\n';

const toName = (segment: string) => (segment.startsWith('@') ? `@${segment}` : segment);
const toSegment = (name: string) => (name.startsWith('@@') ? name.slice(1) : name.startsWith('@') ? null : name);
const fileBase = (segment: string) => `@${createHash('sha256').update(segment).digest('hex')}`;

function toObjectInfo(description: Description, state: State | null): ObjectInfo {
  const retainUntil = state ? state.retainUntil : description.retainUntil;
  return {
    key: description.key,
    size: description.size,
    contentType: description.contentType,
    lastModified: new Date(description.lastModified),
    retainUntil: retainUntil ? new Date(retainUntil) : null,
    legalHold: state?.legalHold ?? false,
    metadata: description.metadata,
  };
}

function damaged(path: string, problem: string) {
  return new Error(`Object file ${path} is damaged: ${problem}.`);
}

/** The length of the description that ends an object file, from the file's last bytes (at least the footer). */
function descriptionLength(tail: Buffer, fileSize: number, path: string): number {
  const footer = tail.subarray(tail.length - FOOTER_BYTES).toString('latin1');
  const length = Number.parseInt(footer.slice(FOOTER_MARK.length), 16);
  if (fileSize < FOOTER_BYTES || !footer.startsWith(FOOTER_MARK) || !(length >= 0 && length <= fileSize - FOOTER_BYTES))
    throw damaged(path, 'no description at its end');
  return length;
}

/** Parses a description and checks that, with the footer, it accounts for every byte of the file. */
function parseDescription(text: Buffer, fileSize: number, path: string): Description {
  const description = JSON.parse(text.toString('utf8')) as Description;
  if (description.size !== fileSize - FOOTER_BYTES - text.length)
    throw damaged(path, 'its size differs from its description');
  return description;
}

/** Reads the description at the end of an object file. */
async function readDescription(handle: FileHandle, path: string): Promise<Description> {
  const { size } = await handle.stat();
  const tailBytes = Math.min(size, TAIL_READ_BYTES);
  const tail = Buffer.allocUnsafe(tailBytes);
  await handle.read(tail, 0, tailBytes, size - tailBytes);
  const length = descriptionLength(tail, size, path);
  if (length + FOOTER_BYTES <= tailBytes)
    return parseDescription(tail.subarray(tailBytes - FOOTER_BYTES - length, tailBytes - FOOTER_BYTES), size, path);
  const text = Buffer.allocUnsafe(length);
  await handle.read(text, 0, length, size - FOOTER_BYTES - length);
  return parseDescription(text, size, path);
}

// buffers for the first read of an object file, kept for the next read once their bytes are copied out (or
// lent bytes are no longer used)
const readBuffers: Buffer[] = [];
const KEPT_READ_BUFFERS = 32;

const takeReadBuffer = () => readBuffers.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK_BYTES);

function returnReadBuffer(buffer: Buffer) {
  if (readBuffers.length < KEPT_READ_BUFFERS) readBuffers.push(buffer);
}

/**
 * An object file of at most READ_CHUNK_BYTES, read whole into `buffer` in one read from its start (a read of
 * a regular file that returns less than asked has reached its end): its description and its bytes, in
 * `buffer`. Null for a larger file.
 */
async function readWhole(handle: FileHandle, path: string, buffer: Buffer) {
  const { bytesRead: size } = await handle.read(buffer, 0, buffer.length, 0);
  if (size === buffer.length) return null;
  const file = buffer.subarray(0, size);
  const length = descriptionLength(file, size, path);
  const description = parseDescription(file.subarray(size - FOOTER_BYTES - length, size - FOOTER_BYTES), size, path);
  return { description, bytes: file.subarray(0, description.size) };
}

/** A small object file read whole: its description and a copy of its bytes. Null for a larger file. */
async function readSmallObject(handle: FileHandle, path: string) {
  const buffer = takeReadBuffer();
  try {
    const whole = await readWhole(handle, path, buffer);
    // copied before the buffer goes back for another read
    return whole && { description: whole.description, bytes: Buffer.from(whole.bytes) };
  } finally {
    returnReadBuffer(buffer);
  }
}

function descriptionBytes(description: Description): Buffer {
  const text = Buffer.from(JSON.stringify(description));
  return Buffer.concat([text, Buffer.from(`${FOOTER_MARK}${text.length.toString(16).padStart(8, '0')}`, 'latin1')]);
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

export class FolderObjectStore implements ObjectStore {
  private readonly queue = new KeyQueue();
  private readonly directories = new DirectorySync();
  /** folders being made and brought to disk */
  private readonly foldersBeingMade = new Set<Promise<void>>();
  /** whether the root holds the files-only marker: objects of the earlier layout need not be looked for */
  private filesOnly?: Promise<boolean>;

  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /**
   * Makes the root when missing. A root that is empty gets the files-only marker (a store made before it, or
   * one holding anything, keeps looking for objects of the earlier layout).
   */
  async ensureRoot(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    const entries = await readdir(this.root);
    if (entries.length === 0) {
      // no fsync needed: a marker lost in a crash only costs the extra look again
      await writeFile(join(this.root, FILES_ONLY_MARKER), MARKER_TEXT, { flag: 'wx' });
      this.filesOnly = Promise.resolve(true);
    } else {
      this.filesOnly = Promise.resolve(entries.includes(FILES_ONLY_MARKER));
    }
  }

  /** Read once per store (for a store used without ensureRoot): is the marker in the root? */
  private isFilesOnly(): Promise<boolean> {
    this.filesOnly ??= access(join(this.root, FILES_ONLY_MARKER)).then(
      () => true,
      () => false,
    );
    return this.filesOnly;
  }

  async put(
    key: string,
    body: NodeJS.ReadableStream | Buffer | Uint8Array,
    options?: PutOptions,
  ): Promise<StoredObject> {
    validateObjectKey(key);
    const put = validatePutOptions(options);
    return this.queue.run(key, async () => {
      const place = this.placeOf(key);
      const temporary = place.base + TEMPORARY;
      const chunks = (toReadable(body) as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
      // the file is opened while the previous object is looked up: both wait for the disk at the same time
      const [looked, opened] = await Promise.allSettled([
        this.find(place),
        this.openTemporary(place.directory, temporary, chunks),
      ]);
      const previous = looked.status === 'fulfilled' ? looked.value : null;
      try {
        if (looked.status === 'rejected') throw looked.reason;
        if (previous) refuseIfRetained(previous.info, 'overwritten');
      } catch (error) {
        if (opened.status === 'fulfilled') await opened.value.file.close();
        await rm(temporary, { force: true });
        if (!previous) await pruneEmptyFolders(this.root, place.directory);
        throw error;
      }

      const digest = new ContentDigest(key, put.sha256);
      try {
        if (opened.status === 'rejected') throw opened.reason;
        const { file, first, rest, durable } = opened.value;
        try {
          // each chunk is written once the next one came; the last goes with the description, in one write
          let held: Buffer | null = null;
          const take = async (chunk: Buffer) => {
            if (held) await writeAll(file, held);
            digest.observe(chunk);
            held = chunk;
          };
          for (const chunk of first) await take(chunk);
          if (rest) for (let next = await chunks.next(); !next.done; next = await chunks.next()) await take(next.value);
          const mismatch = digest.mismatch();
          if (mismatch) throw mismatch;
          const description: Description = {
            key,
            size: digest.size,
            sha256: digest.sha256(),
            contentType: put.contentType,
            lastModified: new Date().toISOString(),
            retainUntil: put.retainUntil?.toISOString() ?? null,
            metadata: put.metadata,
            version: randomUUID(),
          };
          await writeAll(file, ...(held ? [held] : []), descriptionBytes(description));
          if (!durable) await file.sync();
        } finally {
          await file.close();
        }
        await rename(temporary, place.base + OBJECT);
      } catch (error) {
        await chunks.return?.();
        await rm(temporary, { force: true });
        if (!previous) await pruneEmptyFolders(this.root, place.directory);
        throw error;
      }
      await this.directories.sync(place.directory);
      await this.foldersOnDisk();
      // what the new object replaced: the state of the earlier version, or an object of the earlier layout
      if (previous?.layout === 'file' && previous.state) await rm(place.base + STATE, { force: true });
      if (previous?.layout === 'key-folder') await removeKeyFolderObject(this.root, place.keyFolder);
      return { key, size: digest.size, sha256: digest.sha256() };
    });
  }

  async get(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream> {
    validateObjectKey(key);
    const wanted = validateRange(range);
    const place = this.placeOf(key);
    const path = place.base + OBJECT;
    const handle = await openIfPresent(path);
    // Once open, the file stays readable even if an overwrite replaces it.
    if (handle) return this.readObject(key, handle, path, wanted);
    if (await this.isFilesOnly()) throw objectNotFound(key);
    return this.getFromKeyFolder(key, place.keyFolder, wanted);
  }

  /**
   * Lends the bytes of a small object to `use`, in a read buffer that the store takes back for another read
   * once `use` settles: no buffer is allocated for the object, which spares the garbage collector (a buffer
   * of 100 kB per object brings a full collection every hundred or so objects). `use` must be done with the
   * bytes when it settles, as put() of a folder store is. Null when the object is larger than one read or has
   * no file of this layout: then get() it.
   */
  async lend<T>(key: string, use: (bytes: Buffer) => Promise<T>): Promise<{ value: T } | null> {
    validateObjectKey(key);
    const path = this.placeOf(key).base + OBJECT;
    const handle = await openIfPresent(path);
    if (!handle) return null;
    const buffer = takeReadBuffer();
    try {
      let whole;
      try {
        whole = await readWhole(handle, path, buffer);
      } finally {
        await handle.close();
      }
      if (!whole) return null;
      if (whole.description.key !== key) throw damaged(path, `it holds "${whole.description.key}", not "${key}"`);
      return { value: await use(whole.bytes) };
    } finally {
      returnReadBuffer(buffer);
    }
  }

  /**
   * The bytes of an open object file: a small one read whole in one go (and its file closed at once), a large
   * one streamed in chunks.
   */
  private async readObject(
    key: string,
    handle: FileHandle,
    path: string,
    wanted: ByteRange | null,
  ): Promise<NodeJS.ReadableStream> {
    let stream: NodeJS.ReadableStream | undefined;
    try {
      const whole = await readSmallObject(handle, path);
      const description = whole?.description ?? (await readDescription(handle, path));
      if (description.key !== key) throw damaged(path, `it holds "${description.key}", not "${key}"`);
      const { size } = description;
      if (wanted && wanted.start >= size) throw rangeNotSatisfiable(key, wanted.start, size);
      const start = wanted?.start ?? 0;
      const end = Math.min(wanted?.end ?? size - 1, size - 1);
      if (whole || size === 0)
        return Readable.from(size === 0 ? [] : [whole!.bytes.subarray(start, end + 1)], { objectMode: false });
      stream = handle.createReadStream({ start, end, highWaterMark: Math.min(end - start + 1, READ_CHUNK_BYTES) });
      return stream;
    } finally {
      // a read stream closes its file when it ends
      if (!stream) await handle.close();
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    validateObjectKey(key);
    return (await this.find(this.placeOf(key)))?.info ?? null;
  }

  async delete(key: string): Promise<void> {
    validateObjectKey(key);
    await this.queue.run(key, async () => {
      const place = this.placeOf(key);
      const found = await this.find(place);
      if (!found) throw objectNotFound(key);
      refuseIfRetained(found.info, 'deleted');
      if (found.layout === 'file') {
        await rm(place.base + OBJECT);
        await this.directories.sync(place.directory);
        await rm(place.base + STATE, { force: true });
      }
      // an object of the earlier layout, or one an interrupted overwrite left behind the file just removed
      if (!(await this.isFilesOnly())) await removeKeyFolderObject(this.root, place.keyFolder);
      await pruneEmptyFolders(this.root, place.directory);
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
      const place = this.placeOf(key);
      const found = await this.find(place);
      if (!found) throw objectNotFound(key);
      refuseShortening(found.info, retainUntil);
      if (found.layout === 'key-folder')
        return rewriteKeyFolderSidecar(place.keyFolder, { ...found.sidecar, retainUntil: retainUntil.toISOString() });
      await this.writeState(place, {
        version: found.description.version,
        retainUntil: retainUntil.toISOString(),
        legalHold: found.info.legalHold,
      });
    });
  }

  async setLegalHold(key: string, hold: boolean): Promise<void> {
    validateObjectKey(key);
    await this.queue.run(key, async () => {
      const place = this.placeOf(key);
      const found = await this.find(place);
      if (!found) throw objectNotFound(key);
      if (found.layout === 'key-folder')
        return rewriteKeyFolderSidecar(place.keyFolder, { ...found.sidecar, legalHold: hold });
      await this.writeState(place, {
        version: found.description.version,
        retainUntil: found.info.retainUntil?.toISOString() ?? null,
        legalHold: hold,
      });
    });
  }

  private placeOf(key: string): Place {
    const segments = key.split('/');
    const last = segments.pop()!;
    const directory = join(this.root, ...segments.map(toName));
    return { key, directory, base: join(directory, fileBase(last)), keyFolder: join(directory, toName(last)) };
  }

  /** The key's object in either layout; the file of this layout wins over a folder an overwrite left behind. */
  private async find(place: Place): Promise<Found | null> {
    // both layouts at once (unless the store holds files only): a new key is missing from both, and each look
    // waits for the disk
    const filesOnly = await this.isFilesOnly();
    const [description, sidecar] = await Promise.all([
      this.readObjectFile(place.base + OBJECT),
      filesOnly ? null : readKeyFolderSidecar(place.keyFolder),
    ]);
    if (description) {
      if (description.key !== place.key)
        throw damaged(place.base + OBJECT, `it holds "${description.key}", not "${place.key}"`);
      const state = await this.readState(place, description.version);
      return { layout: 'file', description, state, info: toObjectInfo(description, state) };
    }
    return sidecar ? { layout: 'key-folder', sidecar, info: sidecarInfo(sidecar) } : null;
  }

  private async readObjectFile(path: string): Promise<Description | null> {
    const handle = await openIfPresent(path);
    if (!handle) return null;
    try {
      return await readDescription(handle, path);
    } finally {
      await handle.close();
    }
  }

  /** The state written after the put, if it belongs to this version of the object. */
  private async readState(place: Place, version: string): Promise<State | null> {
    try {
      const state = JSON.parse(await readSmallFile(place.base + STATE)) as State;
      return state.version === version ? state : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  private async writeState(place: Place, state: State): Promise<void> {
    const temporary = place.base + TEMPORARY;
    await writeDurably(temporary, JSON.stringify(state), true);
    await rename(temporary, place.base + STATE);
    await this.directories.sync(place.directory);
  }

  private async getFromKeyFolder(
    key: string,
    keyFolder: string,
    wanted: ByteRange | null,
  ): Promise<NodeJS.ReadableStream> {
    // An overwrite may replace the bytes between reading the sidecar and opening them; then the object is in
    // its new place.
    for (let attempt = 1; ; attempt++) {
      const sidecar = await readKeyFolderSidecar(keyFolder);
      if (!sidecar) {
        if (attempt > 1) return this.get(key, wanted ?? undefined);
        throw objectNotFound(key);
      }
      if (wanted && wanted.start >= sidecar.size) throw rangeNotSatisfiable(key, wanted.start, sidecar.size);
      try {
        const handle = await open(join(keyFolder, sidecar.content), 'r');
        const last = sidecar.size - 1;
        if (last < 0) return handle.createReadStream();
        const start = wanted?.start ?? 0;
        const end = Math.min(wanted?.end ?? last, last);
        return handle.createReadStream({ start, end, highWaterMark: Math.min(end - start + 1, READ_CHUNK_BYTES) });
      } catch (error) {
        if (!isMissing(error) || attempt === 3) throw error;
      }
    }
  }

  /**
   * Opens a key's temporary file once the body's first chunks came. A body of one chunk (most documents) is
   * written in one write with O_DSYNC, on disk when the write returns, which spares the fsync call that
   * follows the last write of a longer body.
   */
  private async openTemporary(directory: string, path: string, chunks: AsyncIterator<Buffer>) {
    const first: Buffer[] = [];
    let rest = false;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) {
      first.push(next.value);
      if (first.length === 2) {
        rest = true;
        break;
      }
    }
    const durable = !rest && DURABLE_CREATE !== null;
    const file = await this.createTemporary(directory, path, durable ? DURABLE_CREATE! : 'w');
    return { file, first, rest, durable };
  }

  /**
   * Opens a key's temporary file, truncating what a crashed write of that key left, and makes its folder when
   * missing. A concurrent delete of a neighbouring key may prune a fresh folder before the file is in it: then
   * again.
   */
  private async createTemporary(directory: string, path: string, flags: string | number): Promise<FileHandle> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await open(path, flags);
      } catch (error) {
        if (!isMissing(error) || attempt === 3) throw error;
      }
      await this.makeFolder(directory);
    }
  }

  /**
   * Makes a folder and its missing parents, and brings each new entry to disk (the parent of each folder made,
   * shared with concurrent puts there), so that an object committed in it stays reachable after a crash.
   */
  private makeFolder(directory: string): Promise<void> {
    const making = (async () => {
      const first = await mkdir(directory, { recursive: true });
      if (first === undefined) return;
      const syncs: Promise<void>[] = [];
      for (let made = directory; ; made = dirname(made)) {
        syncs.push(this.directories.sync(dirname(made)));
        if (made === first) break;
      }
      await Promise.all(syncs);
    })();
    this.foldersBeingMade.add(making);
    const done = () => this.foldersBeingMade.delete(making);
    making.then(done, done);
    return making;
  }

  /**
   * Another put may have made the folders this one wrote in and still be bringing them to disk: a put returns
   * only once the folders being made when it committed are on disk (folder making is rare: all of them).
   */
  private async foldersOnDisk(): Promise<void> {
    if (this.foldersBeingMade.size > 0) await Promise.all(this.foldersBeingMade);
  }

  /**
   * Visits a folder's objects and subtrees in key order: the object "a" sorts as "a" but its subtree as
   * "a/", so that "a.b" (and everything under it) comes between them, as S3 lists.
   */
  private async *walk(directory: string, directoryKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let entries;
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw error;
    }
    const names = new Set(entries.map((entry) => entry.name));
    const filesOnly = await this.isFilesOnly();
    const visits: { sortKey: string; place: Place; subtree: boolean }[] = [];
    for (const entry of entries) {
      if (entry.isFile() && OBJECT_FILE.test(entry.name)) {
        const description = await this.readObjectFile(join(directory, entry.name));
        if (description?.key.startsWith(prefix))
          visits.push({ sortKey: description.key, place: this.placeOf(description.key), subtree: false });
        continue;
      }
      const segment = entry.isDirectory() ? toSegment(entry.name) : null;
      if (segment === null) continue;
      const key = directoryKey + segment;
      const place = this.placeOf(key);
      // a folder of the earlier layout may hold the key's object, unless a file of this layout replaced it
      if (!filesOnly && key.startsWith(prefix) && !names.has(fileBase(segment) + OBJECT))
        visits.push({ sortKey: key, place, subtree: false });
      const subtree = `${key}/`;
      if (subtree.startsWith(prefix) || prefix.startsWith(subtree))
        visits.push({ sortKey: subtree, place: { ...place, directory: place.keyFolder }, subtree: true });
    }
    visits.sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const visit of visits) {
      if (visit.subtree) {
        yield* this.walk(visit.place.directory, visit.sortKey, prefix);
      } else {
        const found = await this.find(visit.place);
        if (found) yield found.info;
      }
    }
  }
}
