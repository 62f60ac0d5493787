import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import fsPromises from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { FolderObjectStore, copyObject, createObjectStore, objectStoreContract } from '@kantoor/object-storage';

let parent: string;
let count = 0;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'folder-object-store-'));
});
afterAll(() => rm(parent, { recursive: true, force: true }));
const freshRoot = () => join(parent, `store-${++count}`);

objectStoreContract('FolderObjectStore', () => new FolderObjectStore(freshRoot()));

/** The name of a key's object file in its folder: the SHA-256 of the key's last segment. */
const fileOf = (segment: string) => `@${createHash('sha256').update(segment).digest('hex')}.object`;

/** An object file as the store writes it: the bytes, their description, "@obj" and the description's length. */
function objectFile(bytes: Buffer, description: object): Buffer {
  const text = Buffer.from(JSON.stringify(description));
  return Buffer.concat([bytes, text, Buffer.from(`@obj${text.length.toString(16).padStart(8, '0')}`)]);
}

function descriptionOf(file: Buffer): Record<string, unknown> {
  const length = Number.parseInt(file.subarray(-8).toString(), 16);
  return JSON.parse(file.subarray(file.length - 12 - length, file.length - 12).toString());
}

async function bytesOf(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString();
}

async function keysOf(store: FolderObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}

describe('FolderObjectStore on disk', () => {
  let root: string;
  let store: FolderObjectStore;
  beforeEach(() => {
    root = freshRoot();
    store = new FolderObjectStore(root);
  });

  test('keeps an object as one file in the folder of its key: the bytes, then their description', async () => {
    const retainUntil = new Date('2033-12-31T23:59:59.000Z');
    const stored = await store.put('dossiers/7/invoice.pdf', Buffer.from('%PDF'), {
      contentType: 'application/pdf',
      retainUntil,
    });
    expect(await readdir(join(root, 'dossiers/7'))).toEqual([fileOf('invoice.pdf')]);
    const file = await readFile(join(root, 'dossiers/7', fileOf('invoice.pdf')));
    expect(file.subarray(0, 4).toString()).toBe('%PDF');
    expect(descriptionOf(file)).toMatchObject({
      key: 'dossiers/7/invoice.pdf',
      size: 4,
      sha256: stored.sha256,
      contentType: 'application/pdf',
      retainUntil: retainUntil.toISOString(),
    });
  });

  test('a failed put leaves no temporary file, and no empty folders', async () => {
    await store.put('keep/me', Buffer.from('x'));
    const failing = Readable.from(
      (async function* () {
        yield Buffer.from('partial');
        throw new Error('disk pulled');
      })(),
    );
    await expect(store.put('uploads/2026/broken.pdf', failing)).rejects.toThrow('disk pulled');
    expect(await readdir(root)).toEqual(['keep']);
  });

  test('an overwrite leaves one file, and deleting removes the folders it emptied', async () => {
    await store.put('a/b/c', Buffer.from('one'));
    await store.put('a/b/c', Buffer.from('two'));
    expect(await readdir(join(root, 'a/b'))).toEqual([fileOf('c')]);
    await store.put('a/other', Buffer.from('stays'));
    await store.delete('a/b/c');
    expect(await readdir(join(root, 'a'))).toEqual([fileOf('other')]);
  });

  test('a first put that crashed was never an object, and the next put of the key takes its place', async () => {
    await mkdir(join(root, 'fresh'), { recursive: true });
    const temporary = join(root, 'fresh', fileOf('key').replace(/\.object$/, '.tmp'));
    await writeFile(temporary, 'half an object');
    expect(await store.stat('fresh/key')).toBeNull();
    await expect(store.get('fresh/key')).rejects.toMatchObject({ reason: 'object_not_found' });
    await store.put('fresh/key', Buffer.from('whole'));
    expect(await readdir(join(root, 'fresh'))).toEqual([fileOf('key')]);
  });

  test('a put interrupted before its file is renamed into place leaves the previous object whole', async () => {
    const retainUntil = new Date(Date.now() + 3600_000);
    await store.put('doc', Buffer.from('previous'), { contentType: 'text/plain' });
    // the process stops at the commit point: the new file written and flushed, not yet renamed
    let reachedCommit!: () => void;
    const atCommit = new Promise<void>((resolve) => (reachedCommit = resolve));
    const rename = jest.spyOn(fsPromises, 'rename').mockImplementationOnce(() => {
      reachedCommit();
      return new Promise<void>(() => undefined);
    });
    try {
      void store.put('doc', Buffer.from('next version'), { retainUntil });
      await atCommit;
    } finally {
      rename.mockRestore();
    }
    expect((await readdir(root)).sort()).toEqual([fileOf('doc'), fileOf('doc').replace(/\.object$/, '.tmp')].sort());

    // what a restarted process sees: the previous object, its bytes and its (absent) retention
    const restarted = new FolderObjectStore(root);
    expect(await bytesOf(await restarted.get('doc'))).toBe('previous');
    expect(await restarted.stat('doc')).toMatchObject({ size: 8, contentType: 'text/plain', retainUntil: null });

    // and its next write of the key takes over what the interrupted put left
    await restarted.put('doc', Buffer.from('after restart'));
    expect(await readdir(root)).toEqual([fileOf('doc')]);
  });

  /** What reaches the disk during a put: flushes, writes made with O_DSYNC, renames; paths under "root". */
  async function diskEvents(put: () => Promise<unknown>): Promise<string[]> {
    const probe = await fsPromises.open(join(parent, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as fsPromises.FileHandle;
    await probe.close();
    const events: string[] = [];
    const opened = new WeakMap<fsPromises.FileHandle, { path: string; durable: boolean }>();
    const nameOf = (handle: fsPromises.FileHandle) => (opened.get(handle)?.path ?? '?').replace(root, 'root');
    const originalOpen = fsPromises.open;
    const open = jest.spyOn(fsPromises, 'open').mockImplementation(async (...args) => {
      const handle = await originalOpen(...args);
      const flags = args[1];
      opened.set(handle, {
        path: String(args[0]),
        durable: typeof flags === 'number' && (flags & constants.O_DSYNC) !== 0,
      });
      return handle;
    });
    const originalSync = prototype.sync;
    const sync = jest.spyOn(prototype, 'sync').mockImplementation(function (this: fsPromises.FileHandle) {
      events.push(`sync ${nameOf(this)}`);
      return originalSync.call(this);
    });
    const originalWritev = prototype.writev;
    const writev = jest.spyOn(prototype, 'writev').mockImplementation(function (
      this: fsPromises.FileHandle,
      ...args: Parameters<fsPromises.FileHandle['writev']>
    ) {
      if (opened.get(this)?.durable) events.push(`durable write ${nameOf(this)}`);
      return originalWritev.apply(this, args);
    });
    const originalRename = fsPromises.rename;
    const rename = jest.spyOn(fsPromises, 'rename').mockImplementation((from, to) => {
      events.push(`rename to ${basename(String(to))}`);
      return originalRename(from, to);
    });
    try {
      await put();
    } finally {
      open.mockRestore();
      sync.mockRestore();
      writev.mockRestore();
      rename.mockRestore();
    }
    return events;
  }

  test('the file is flushed before it is renamed into place, and the folders that make it reachable after', async () => {
    await store.ensureRoot();
    const events = await diskEvents(() => store.put('made/for/flushed', Buffer.from('bytes')));
    const temporary = fileOf('flushed').replace(/\.object$/, '.tmp');
    // the folders made for the key, each in its parent; the file (one chunk: written with O_DSYNC, no fsync
    // after); the commit; then the folder holding it
    expect(events.slice(0, 2).sort()).toEqual(['sync root', 'sync root/made']);
    expect(events.slice(2)).toEqual([
      `durable write root/made/for/${temporary}`,
      `rename to ${fileOf('flushed')}`,
      'sync root/made/for',
    ]);
  });

  test('a body of several chunks is written as it comes and flushed once, before the rename', async () => {
    await store.put('made/first', Buffer.from('makes the folder'));
    const chunks = Readable.from([Buffer.from('one '), Buffer.from('two '), Buffer.from('three')], {
      objectMode: true,
    });
    const events = await diskEvents(() => store.put('made/chunked', chunks));
    const temporary = fileOf('chunked').replace(/\.object$/, '.tmp');
    expect(events).toEqual([`sync root/made/${temporary}`, `rename to ${fileOf('chunked')}`, 'sync root/made']);
    expect(await bytesOf(await store.get('made/chunked'))).toBe('one two three');
  });

  test('puts that commit together in one folder share the flush of that folder, each after its own rename', async () => {
    const probe = await fsPromises.open(join(parent, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as fsPromises.FileHandle;
    await probe.close();
    await store.put('batch/first', Buffer.from('makes the folder'));
    const events: string[] = [];
    const originalSync = prototype.sync;
    const sync = jest.spyOn(prototype, 'sync').mockImplementation(async function (this: fsPromises.FileHandle) {
      const folder = (await this.stat()).isDirectory();
      if (folder) events.push('folder flush starts');
      await new Promise((resolve) => setTimeout(resolve, 20));
      await originalSync.call(this);
      if (folder) events.push('folder flush ends');
    });
    const originalRename = fsPromises.rename;
    const rename = jest.spyOn(fsPromises, 'rename').mockImplementation(async (from, to) => {
      await originalRename(from, to);
      events.push(`renamed ${basename(String(to))}`);
    });
    const keys = Array.from({ length: 8 }, (_, index) => `batch/${index}`);
    try {
      await Promise.all(
        keys.map((key) =>
          store.put(key, Buffer.from(key)).then(() => events.push(`returned ${fileOf(basename(key))}`)),
        ),
      );
    } finally {
      sync.mockRestore();
      rename.mockRestore();
    }
    const flushes = events.filter((event) => event === 'folder flush starts').length;
    expect(flushes).toBeGreaterThan(0);
    expect(flushes).toBeLessThan(keys.length);
    for (const key of keys) {
      const renamed = events.indexOf(`renamed ${fileOf(basename(key))}`);
      const returned = events.indexOf(`returned ${fileOf(basename(key))}`);
      const start = events.indexOf('folder flush starts', renamed);
      expect(start).toBeGreaterThan(renamed);
      expect(events.indexOf('folder flush ends', start)).toBeLessThan(returned);
    }
    expect(await keysOf(store, 'batch/')).toHaveLength(keys.length + 1);
  });

  test('a description longer than one read is read whole', async () => {
    await store.put('large/description', Buffer.from('x'), { metadata: { note: 'n' } });
    const path = join(root, 'large', fileOf('description'));
    const description = descriptionOf(await readFile(path));
    await writeFile(path, objectFile(Buffer.from('x'), { ...description, metadata: { note: 'ö'.repeat(20_000) } }));
    expect((await store.stat('large/description'))?.metadata.note).toHaveLength(20_000);
    expect(await bytesOf(await store.get('large/description'))).toBe('x');
  });

  test('a file whose end is no description is reported as damaged, not read as an object', async () => {
    await store.put('torn', Buffer.from('whole object'));
    await writeFile(join(root, fileOf('torn')), 'whole obj');
    await expect(store.stat('torn')).rejects.toThrow(/is damaged/);
    await expect(store.get('torn')).rejects.toThrow(/is damaged/);
  });

  test("keys named like the store's own files are kept apart from them", async () => {
    await store.put('a', Buffer.from('object a'));
    await store.put('a/@object.json', Buffer.from('an upload named @object.json'));
    await store.put(`a/${fileOf('x')}`, Buffer.from('named like an object file'));
    await store.put('a/@@x', Buffer.from('double'));
    expect(await bytesOf(await store.get('a'))).toBe('object a');
    // in byte order: "2" < "@" < "o"
    expect(fileOf('x').startsWith('@2')).toBe(true);
    expect(await keysOf(store, 'a')).toEqual(['a', `a/${fileOf('x')}`, 'a/@@x', 'a/@object.json']);
  });

  test('concurrent puts of one key leave one complete version', async () => {
    const versions = ['one', 'two', 'three', 'four', 'five'];
    await Promise.all(versions.map((text) => store.put('race', Buffer.from(text))));
    const info = await store.stat('race');
    const text = await bytesOf(await store.get('race'));
    expect(versions).toContain(text);
    expect(info?.size).toBe(text.length);
    expect(await readdir(root)).toEqual([fileOf('race')]);
  });

  test('a legal hold or longer retention set after the put belongs to that version only', async () => {
    await store.put('held', Buffer.from('v1'));
    await store.setLegalHold('held', true);
    const statePath = join(root, fileOf('held').replace(/\.object$/, '.state'));
    const heldState = await readFile(statePath);
    await expect(store.put('held', Buffer.from('v2'))).rejects.toMatchObject({ reason: 'object_retained' });
    await store.setLegalHold('held', false);
    await store.put('held', Buffer.from('v2'));
    // a crash left the state of the first version behind: it does not hold the second
    await writeFile(statePath, heldState);
    expect(await store.stat('held')).toMatchObject({ legalHold: false, retainUntil: null });
    await store.delete('held');
    expect(await readdir(root)).toEqual([]);
  });

  describe('objects of the earlier layout (a folder per key), as a store upgraded in place holds them', () => {
    const hour = 3600_000;
    async function writeKeyFolderObject(key: string, text: string, retainUntil: Date | null, legalHold = false) {
      const folder = join(root, ...key.split('/'));
      await mkdir(folder, { recursive: true });
      const content = '@0c4c3c0e-7d5e-4b1a-9b7e-3f1f2d6a8c11.bytes';
      await writeFile(join(folder, content), text);
      const bytes = Buffer.from(text);
      await writeFile(
        join(folder, '@object.json'),
        JSON.stringify({
          key,
          size: bytes.length,
          sha256: createHash('sha256').update(bytes).digest('hex'),
          contentType: 'application/pdf',
          lastModified: '2026-01-02T03:04:05.000Z',
          retainUntil: retainUntil?.toISOString() ?? null,
          legalHold,
          metadata: { source: 'intake' },
          content,
        }),
      );
    }

    test('are still found in a store that held anything before it was opened: it is not marked files-only', async () => {
      await writeKeyFolderObject('legacy/doc', 'old bytes', new Date(Date.now() + hour));
      const upgraded = await createObjectStore({ kind: 'folder', root });
      expect(await readdir(root)).toEqual(['legacy']);
      expect(await upgraded.stat('legacy/doc')).toMatchObject({ size: 9 });
      expect(await bytesOf(await upgraded.get('legacy/doc'))).toBe('old bytes');
      await expect(upgraded.put('legacy/doc', Buffer.from('new'))).rejects.toMatchObject({ reason: 'object_retained' });
      expect(await keysOf(upgraded as FolderObjectStore, '')).toEqual(['legacy/doc']);
    });

    test('are not looked for in a store that began empty (marked files-only), by it or after a restart', async () => {
      const marked = await createObjectStore({ kind: 'folder', root });
      // a folder per key appears only where a version before the files layout wrote; here, behind the store's back
      await writeKeyFolderObject('legacy/doc', 'old bytes', null);
      const looked: string[] = [];
      const originalOpen = fsPromises.open;
      const open = jest.spyOn(fsPromises, 'open').mockImplementation((...args) => {
        looked.push(String(args[0]));
        return originalOpen(...args);
      });
      const restarted = new FolderObjectStore(root);
      try {
        for (const store of [marked, restarted]) {
          await store.put('legacy/new', Buffer.from('new bytes'));
          expect(await store.stat('legacy/doc')).toBeNull();
          await expect(store.get('legacy/doc')).rejects.toMatchObject({ reason: 'object_not_found' });
          expect(await keysOf(store as FolderObjectStore, '')).toEqual(['legacy/new']);
          await store.delete('legacy/new');
        }
      } finally {
        open.mockRestore();
      }
      expect(looked.filter((path) => path.endsWith('@object.json'))).toEqual([]);
      expect(looked.length).toBeGreaterThan(0);
    });

    test('are read, ranged, listed and described as before', async () => {
      await writeKeyFolderObject('firm/dossier/doc/original', '%PDF old layout', new Date(Date.now() + hour));
      await store.put('firm/dossier/doc/original~copy', Buffer.from('%PDF new layout'));
      expect(await bytesOf(await store.get('firm/dossier/doc/original'))).toBe('%PDF old layout');
      expect(await bytesOf(await store.get('firm/dossier/doc/original', { start: 5, end: 7 }))).toBe('old');
      expect(await store.stat('firm/dossier/doc/original')).toMatchObject({
        size: 15,
        contentType: 'application/pdf',
        legalHold: false,
        metadata: { source: 'intake' },
      });
      expect(await keysOf(store, 'firm/')).toEqual(['firm/dossier/doc/original', 'firm/dossier/doc/original~copy']);
    });

    test('keep their retention and legal hold: no overwrite or delete before the date, holds set in place', async () => {
      await writeKeyFolderObject('locked', 'kept', new Date(Date.now() + hour));
      await expect(store.put('locked', Buffer.from('other'))).rejects.toMatchObject({ reason: 'object_retained' });
      await expect(store.delete('locked')).rejects.toMatchObject({ reason: 'object_retained' });
      await store.setLegalHold('locked', true);
      await store.setRetention('locked', new Date(Date.now() + 2 * hour));
      const sidecar = JSON.parse(await readFile(join(root, 'locked', '@object.json'), 'utf8'));
      expect(sidecar).toMatchObject({ legalHold: true });
      expect(await store.stat('locked')).toMatchObject({ legalHold: true });
      expect(await bytesOf(await store.get('locked'))).toBe('kept');
    });

    test('are replaced by a file of the current layout when overwritten, and deleted with their folders', async () => {
      await writeKeyFolderObject('a/free', 'old bytes', null);
      await writeKeyFolderObject('a/free/child', 'a sub-key', null);
      await store.put('a/free', Buffer.from('new bytes'));
      expect(await bytesOf(await store.get('a/free'))).toBe('new bytes');
      // the old folder stays only for the sub-key it holds
      expect((await readdir(join(root, 'a/free'))).sort()).toEqual(['child']);
      expect(await keysOf(store, 'a/')).toEqual(['a/free', 'a/free/child']);
      await store.delete('a/free/child');
      await store.delete('a/free');
      expect(await readdir(root)).toEqual([]);
    });

    test('left beside their replacement by an interrupted overwrite, never show again', async () => {
      await writeKeyFolderObject('twice', 'old bytes', null);
      await writeFile(
        join(root, fileOf('twice')),
        objectFile(Buffer.from('new'), {
          key: 'twice',
          size: 3,
          sha256: createHash('sha256').update('new').digest('hex'),
          contentType: 'text/plain',
          lastModified: new Date().toISOString(),
          retainUntil: null,
          metadata: {},
          version: 'v2',
        }),
      );
      expect(await bytesOf(await store.get('twice'))).toBe('new');
      expect(await keysOf(store, '')).toEqual(['twice']);
      await store.delete('twice');
      expect(await store.stat('twice')).toBeNull();
      expect(await readdir(root)).toEqual([]);
    });
  });

  test('small objects read at the same time each get their own bytes, a large one streams past the first read', async () => {
    const texts = Array.from({ length: 24 }, (_, index) => `document ${index} `.repeat(index * 500 + 1));
    await Promise.all(texts.map((text, index) => store.put(`many/${index}`, Buffer.from(text))));
    const large = Buffer.alloc(300 * 1024, 'l');
    await store.put('many/large', large);
    const read = await Promise.all([
      ...texts.map(async (_, index) => bytesOf(await store.get(`many/${index}`))),
      bytesOf(await store.get('many/large')),
    ]);
    expect(read).toEqual([...texts, large.toString()]);
    expect(await bytesOf(await store.get('many/large', { start: 300 * 1024 - 2 }))).toBe('ll');
  });

  describe('copyObject into another folder store', () => {
    let target: FolderObjectStore;
    beforeEach(() => {
      target = new FolderObjectStore(freshRoot());
    });

    test('lends the bytes of small objects from a reused read buffer: no buffer of their own per object', async () => {
      const texts = ['first document', 'second, longer document', 'third'];
      for (const [index, text] of texts.entries()) await store.put(`in/${index}`, Buffer.from(text));
      const bodies: unknown[] = [];
      const put = target.put.bind(target);
      const spy = jest.spyOn(target, 'put').mockImplementation((key, body, options) => {
        bodies.push(body);
        return put(key, body, options);
      });
      try {
        for (const [index, text] of texts.entries()) {
          const sha256 = createHash('sha256').update(text).digest('hex');
          expect(await copyObject(store, `in/${index}`, target, `out/${index}`, { sha256 })).toEqual({
            key: `out/${index}`,
            size: text.length,
            sha256,
          });
        }
      } finally {
        spy.mockRestore();
      }
      expect(await Promise.all(texts.map(async (_, index) => bytesOf(await target.get(`out/${index}`))))).toEqual(
        texts,
      );
      // one copy after the other: each lent from the same memory
      const memory = new Set(bodies.map((body) => (body as Buffer).buffer));
      expect(bodies.every((body) => Buffer.isBuffer(body))).toBe(true);
      expect(memory.size).toBe(1);
    });

    test('leaves a refused copy as it was, and streams what it cannot lend: a large object, the earlier layout', async () => {
      await store.put('small', Buffer.from('small'));
      await target.put('locked', Buffer.from('kept'), { retainUntil: new Date(Date.now() + 3600_000) });
      await expect(copyObject(store, 'small', target, 'locked')).rejects.toMatchObject({ reason: 'object_retained' });
      await expect(copyObject(store, 'small', target, 'other', { sha256: '0'.repeat(64) })).rejects.toMatchObject({
        reason: 'checksum_mismatch',
      });
      expect(await bytesOf(await target.get('locked'))).toBe('kept');
      expect(await target.stat('other')).toBeNull();
      const large = Buffer.alloc(300 * 1024, 'l');
      await store.put('large', large);
      await copyObject(store, 'large', target, 'large');
      expect(await bytesOf(await target.get('large'))).toBe(large.toString());
      await expect(copyObject(store, 'missing', target, 'missing')).rejects.toMatchObject({
        reason: 'object_not_found',
      });
    });
  });

  test('a reader keeps its bytes while the object is overwritten', async () => {
    await store.put('doc', Buffer.from('original'));
    const reading = await store.get('doc');
    await store.put('doc', Buffer.from('replacement'));
    const chunks: Buffer[] = [];
    for await (const chunk of reading) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('original');
  });

  test('createObjectStore gives a folder store for kind "folder" and creates the folder, marked files-only', async () => {
    const store = await createObjectStore({ kind: 'folder', root });
    expect(store).toBeInstanceOf(FolderObjectStore);
    expect(await readdir(root)).toEqual(['@files-only']);
  });
});
