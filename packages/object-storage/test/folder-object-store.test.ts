import fsPromises from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { FolderObjectStore, createObjectStore, objectStoreContract } from '@kantoor/object-storage';

let parent: string;
let count = 0;
beforeAll(async () => {
  parent = await mkdtemp(join(tmpdir(), 'folder-object-store-'));
});
afterAll(() => rm(parent, { recursive: true, force: true }));
const freshRoot = () => join(parent, `store-${++count}`);

objectStoreContract('FolderObjectStore', () => new FolderObjectStore(freshRoot()));

describe('FolderObjectStore on disk', () => {
  let root: string;
  let store: FolderObjectStore;
  beforeEach(() => {
    root = freshRoot();
    store = new FolderObjectStore(root);
  });

  test('keeps the bytes beside a sidecar that records size, checksum, type and retention', async () => {
    const retainUntil = new Date('2033-12-31T23:59:59.000Z');
    const stored = await store.put('dossiers/7/invoice.pdf', Buffer.from('%PDF'), {
      contentType: 'application/pdf',
      retainUntil,
    });
    const files = await readdir(join(root, 'dossiers/7/invoice.pdf'));
    expect(files).toHaveLength(2);
    expect(files).toEqual(expect.arrayContaining(['@object.json', expect.stringMatching(/^@[0-9a-f-]+\.bytes$/)]));
    const sidecar = JSON.parse(await readFile(join(root, 'dossiers/7/invoice.pdf/@object.json'), 'utf8'));
    expect(sidecar).toMatchObject({
      key: 'dossiers/7/invoice.pdf',
      size: 4,
      sha256: stored.sha256,
      contentType: 'application/pdf',
      retainUntil: retainUntil.toISOString(),
      legalHold: false,
    });
    expect(await readFile(join(root, 'dossiers/7/invoice.pdf', sidecar.content), 'utf8')).toBe('%PDF');
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

  test('an overwrite replaces the bytes file, and deleting removes the folders it emptied', async () => {
    await store.put('a/b/c', Buffer.from('one'));
    await store.put('a/b/c', Buffer.from('two'));
    expect((await readdir(join(root, 'a/b/c'))).filter((name) => name.endsWith('.bytes'))).toHaveLength(1);
    await store.put('a/other', Buffer.from('stays'));
    await store.delete('a/b/c');
    expect(await readdir(join(root, 'a'))).toEqual(['other']);
  });

  test('leftovers of an interrupted put are swept by the next write of that key', async () => {
    await store.put('k', Buffer.from('v1'));
    await writeFile(join(root, 'k', '@crashed.part'), 'half');
    await writeFile(join(root, 'k', '@orphan.bytes'), 'never committed');
    await store.put('k', Buffer.from('v2'));
    const files = await readdir(join(root, 'k'));
    expect(files).toHaveLength(2);
    expect(files).not.toContain('@crashed.part');
    expect(files).not.toContain('@orphan.bytes');
  });

  test('leftovers of a first put that crashed are swept by the next put, and were never an object', async () => {
    await mkdir(join(root, 'fresh', 'key'), { recursive: true });
    await writeFile(join(root, 'fresh', 'key', '@crashed.bytes'), 'half');
    await writeFile(join(root, 'fresh', 'key', '@crashed.tmp'), '{"key":"fresh/key"');
    expect(await store.stat('fresh/key')).toBeNull();
    await expect(store.get('fresh/key')).rejects.toMatchObject({ reason: 'object_not_found' });
    await store.put('fresh/key', Buffer.from('whole'));
    const files = await readdir(join(root, 'fresh', 'key'));
    expect(files).toHaveLength(2);
    expect(files).toContain('@object.json');
    expect(files).not.toContain('@crashed.bytes');
    expect(files).not.toContain('@crashed.tmp');
  });

  test('a put interrupted before its sidecar is renamed into place leaves the previous object whole', async () => {
    const retainUntil = new Date(Date.now() + 3600_000);
    await store.put('doc', Buffer.from('previous'), { contentType: 'text/plain' });
    // the process stops at the commit point: new bytes and new sidecar written, not yet renamed
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
    const files = await readdir(join(root, 'doc'));
    expect(files.filter((name) => name.endsWith('.bytes'))).toHaveLength(2);
    expect(files.filter((name) => name.endsWith('.tmp'))).toHaveLength(1);

    // what a restarted process sees: the previous object, its bytes and its (absent) retention
    const restarted = new FolderObjectStore(root);
    const chunks: Buffer[] = [];
    for await (const chunk of await restarted.get('doc')) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('previous');
    expect(await restarted.stat('doc')).toMatchObject({ size: 8, contentType: 'text/plain', retainUntil: null });

    // and its next write of the key sweeps what the interrupted put left
    await restarted.put('doc', Buffer.from('after restart'));
    expect(await readdir(join(root, 'doc'))).toHaveLength(2);
  });

  test('the bytes are flushed to disk before the sidecar that names them is renamed into place', async () => {
    const probe = await fsPromises.open(join(parent, 'probe'), 'w');
    const prototype = Object.getPrototypeOf(probe) as fsPromises.FileHandle;
    await probe.close();
    const events: string[] = [];
    const originalSync = prototype.sync;
    const sync = jest.spyOn(prototype, 'sync').mockImplementation(function (this: fsPromises.FileHandle) {
      events.push('sync');
      return originalSync.call(this);
    });
    const originalRename = fsPromises.rename;
    const rename = jest.spyOn(fsPromises, 'rename').mockImplementation((from, to) => {
      events.push(`rename to ${basename(String(to))}`);
      return originalRename(from, to);
    });
    try {
      await store.put('flushed', Buffer.from('bytes'));
    } finally {
      sync.mockRestore();
      rename.mockRestore();
    }
    // the bytes first; then the commit; then the folder, so that the commit itself is on disk
    expect(events[0]).toBe('sync');
    expect(events.slice(-2)).toEqual(['rename to @object.json', 'sync']);
  });

  test('a sidecar longer than one read is read whole', async () => {
    await store.put('large/sidecar', Buffer.from('x'), { metadata: { note: 'n' } });
    const path = join(root, 'large/sidecar/@object.json');
    const sidecar = JSON.parse(await readFile(path, 'utf8'));
    await writeFile(path, JSON.stringify({ ...sidecar, metadata: { note: 'ö'.repeat(20_000) } }));
    expect((await store.stat('large/sidecar'))?.metadata.note).toHaveLength(20_000);
  });

  test("keys named like the store's own files are kept apart from them", async () => {
    await store.put('a', Buffer.from('object a'));
    await store.put('a/@object.json', Buffer.from('an upload named @object.json'));
    await store.put('a/@@x', Buffer.from('double'));
    expect(JSON.parse(await readFile(join(root, 'a/@object.json'), 'utf8')).key).toBe('a');
    const keys: string[] = [];
    for await (const info of store.list('a')) keys.push(info.key);
    expect(keys).toEqual(['a', 'a/@@x', 'a/@object.json']);
  });

  test('concurrent puts of one key leave one complete version', async () => {
    const versions = ['one', 'two', 'three', 'four', 'five'];
    await Promise.all(versions.map((text) => store.put('race', Buffer.from(text))));
    const info = await store.stat('race');
    const chunks: Buffer[] = [];
    for await (const chunk of await store.get('race')) chunks.push(chunk as Buffer);
    expect(versions).toContain(Buffer.concat(chunks).toString());
    expect(info?.size).toBe(Buffer.concat(chunks).length);
    expect(await readdir(join(root, 'race'))).toHaveLength(2);
  });

  test('a reader keeps its bytes while the object is overwritten', async () => {
    await store.put('doc', Buffer.from('original'));
    const reading = await store.get('doc');
    await store.put('doc', Buffer.from('replacement'));
    const chunks: Buffer[] = [];
    for await (const chunk of reading) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('original');
  });

  test('createObjectStore gives a folder store for kind "folder" and creates the folder', async () => {
    const store = await createObjectStore({ kind: 'folder', root });
    expect(store).toBeInstanceOf(FolderObjectStore);
    expect(await readdir(root)).toEqual([]);
  });
});
