import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ObjectInfo, ObjectStore } from './object-store';

/**
 * The behaviour every ObjectStore adapter must show, as one jest suite. Call it from a test file with a
 * factory that returns an empty store for each test (a fresh folder, a fresh bucket).
 */
export function objectStoreContract(name: string, makeStore: () => ObjectStore | Promise<ObjectStore>): void {
  const MIB = 1024 * 1024;
  const hour = 3600_000;
  const inHours = (hours: number) => new Date(Date.now() + hours * hour);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex');

  async function bytesOf(stream: NodeJS.ReadableStream): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }

  /** Deterministic bytes made on demand, so that neither side of the test holds the whole object. */
  const noise = Buffer.alloc(64 * 1024);
  for (let offset = 0; offset < noise.length; offset += 32)
    createHash('sha256').update(`${offset}`).digest().copy(noise, offset);
  function generatedChunk(index: number): Buffer {
    const chunk = Buffer.from(noise);
    chunk.writeUInt32BE(index, 0); // no two chunks alike, so a lost or repeated chunk changes the checksum
    return chunk;
  }

  function generatedObject(chunks: number) {
    const expected = createHash('sha256');
    for (let index = 0; index < chunks; index++) expected.update(generatedChunk(index));
    return {
      size: chunks * 64 * 1024,
      sha256: expected.digest('hex'),
      stream: () =>
        Readable.from(
          (function* () {
            for (let index = 0; index < chunks; index++) yield generatedChunk(index);
          })(),
        ),
    };
  }

  /** Fails once six MiB have been taken from it: past the first S3 part (5 MiB), so an upload is under way. */
  function failingStream(): Readable {
    let sent = 0;
    return new Readable({
      read() {
        if (sent < 6) this.push(Buffer.alloc(MIB, sent++));
        else this.destroy(new Error('the upload was interrupted'));
      },
    });
  }

  async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
    const keys: string[] = [];
    for await (const info of store.list(prefix)) keys.push(info.key);
    return keys;
  }

  const retained = (key: string) => ({
    kind: 'failed_precondition',
    reason: 'object_retained',
    message: expect.stringContaining(`"${key}"`),
  });

  describe(`${name} (object store contract)`, () => {
    let store: ObjectStore;
    beforeEach(async () => {
      store = await makeStore();
    });

    test('stores bytes and answers their size and SHA-256, then gives the same bytes back', async () => {
      const stored = await store.put('dossiers/7/invoice.pdf', Buffer.from('%PDF-1.7 factuur'), {
        contentType: 'application/pdf',
      });
      expect(stored).toEqual({ key: 'dossiers/7/invoice.pdf', size: 16, sha256: sha256('%PDF-1.7 factuur') });
      expect((await bytesOf(await store.get('dossiers/7/invoice.pdf'))).toString()).toBe('%PDF-1.7 factuur');

      const fromStream = await store.put(
        'dossiers/7/note.txt',
        Readable.from([Buffer.from('een '), Buffer.from('notitie')]),
      );
      expect(fromStream).toEqual({ key: 'dossiers/7/note.txt', size: 11, sha256: sha256('een notitie') });
      const fromBytes = await store.put('dossiers/7/raw', new Uint8Array([1, 2, 3]));
      expect(fromBytes.size).toBe(3);
      expect([...(await bytesOf(await store.get('dossiers/7/raw')))]).toEqual([1, 2, 3]);

      const empty = await store.put('dossiers/7/empty', Buffer.alloc(0));
      expect(empty).toEqual({ key: 'dossiers/7/empty', size: 0, sha256: sha256('') });
      expect((await bytesOf(await store.get('dossiers/7/empty'))).length).toBe(0);
    });

    test('streams a multi-megabyte object in and out', async () => {
      const object = generatedObject(192); // 12 MiB: several parts on S3
      const stored = await store.put('backups/2026-01-31.tar', object.stream());
      expect(stored).toEqual({ key: 'backups/2026-01-31.tar', size: 12 * MIB, sha256: object.sha256 });

      const readBack = createHash('sha256');
      let size = 0;
      for await (const chunk of await store.get('backups/2026-01-31.tar')) {
        readBack.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      expect({ size, sha256: readBack.digest('hex') }).toEqual({ size: object.size, sha256: object.sha256 });
      expect((await store.stat('backups/2026-01-31.tar'))?.size).toBe(12 * MIB);
    });

    test('reads a byte range, its end byte included', async () => {
      await store.put('ranges/digits', Buffer.from('0123456789'));
      const read = async (range: { start: number; end?: number }) =>
        (await bytesOf(await store.get('ranges/digits', range))).toString();
      expect(await read({ start: 2, end: 5 })).toBe('2345');
      expect(await read({ start: 7 })).toBe('789');
      expect(await read({ start: 0 })).toBe('0123456789');
      expect(await read({ start: 8, end: 100 })).toBe('89');
      await expect(store.get('ranges/digits', { start: 10 })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'range_not_satisfiable',
      });
      await expect(store.get('ranges/digits', { start: 5, end: 4 })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_range',
      });
    });

    test('stat describes an object, and answers null for a missing one', async () => {
      const before = Date.now();
      await store.put('dossiers/7/scan.pdf', Buffer.from('scan'), {
        contentType: 'application/pdf',
        metadata: { 'original-name': 'Factuur été 2025 €.pdf', channel: 'e-mail' },
      });
      const info = await store.stat('dossiers/7/scan.pdf');
      expect(info).toEqual<ObjectInfo>({
        key: 'dossiers/7/scan.pdf',
        size: 4,
        contentType: 'application/pdf',
        lastModified: expect.any(Date),
        retainUntil: null,
        legalHold: false,
        metadata: { 'original-name': 'Factuur été 2025 €.pdf', channel: 'e-mail' },
      });
      // S3 dates have whole seconds
      expect(info!.lastModified.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
      expect(info!.lastModified.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      expect(await store.stat('dossiers/7/plain')).toBeNull();
      await store.put('dossiers/7/plain', Buffer.from('x'));
      expect((await store.stat('dossiers/7/plain'))?.contentType).toBe('application/octet-stream');
    });

    test('lists the objects under a prefix in key order', async () => {
      const keys = ['k/a/b', 'k/a', 'k/a.b', 'k/a-b', 'k/ab', 'k1/x', 'k/@a', 'k/a/b/c', 'other/k', 'kz'];
      for (const key of keys) await store.put(key, Buffer.from(key));
      expect(await keysUnder(store, 'k/')).toEqual(['k/@a', 'k/a', 'k/a-b', 'k/a.b', 'k/a/b', 'k/a/b/c', 'k/ab']);
      expect(await keysUnder(store, 'k')).toEqual([
        'k/@a',
        'k/a',
        'k/a-b',
        'k/a.b',
        'k/a/b',
        'k/a/b/c',
        'k/ab',
        'k1/x',
        'kz',
      ]);
      expect(await keysUnder(store, 'k/a/')).toEqual(['k/a/b', 'k/a/b/c']);
      expect(await keysUnder(store, 'k/a')).toEqual(['k/a', 'k/a-b', 'k/a.b', 'k/a/b', 'k/a/b/c', 'k/ab']);
      expect(await keysUnder(store, 'nothing/')).toEqual([]);
      expect((await keysUnder(store, '')).length).toBe(keys.length);
      const listed: ObjectInfo[] = [];
      for await (const info of store.list('k/a/b')) listed.push(info);
      expect(listed[0]).toMatchObject({
        key: 'k/a/b',
        size: 5,
        contentType: 'application/octet-stream',
        legalHold: false,
      });
    });

    test('overwrites an object that has no retention', async () => {
      await store.put('drafts/letter.txt', Buffer.from('first draft'));
      const second = await store.put('drafts/letter.txt', Buffer.from('second'), { contentType: 'text/plain' });
      expect(second.size).toBe(6);
      expect((await bytesOf(await store.get('drafts/letter.txt'))).toString()).toBe('second');
      expect(await store.stat('drafts/letter.txt')).toMatchObject({ size: 6, contentType: 'text/plain' });
    });

    test('refuses to overwrite an object before its retain-until date, naming the key and the date', async () => {
      const retainUntil = inHours(24 * 365 * 7);
      await store.put('archive/2026/invoice-1.xml', Buffer.from('<Invoice/>'), { retainUntil });
      expect((await store.stat('archive/2026/invoice-1.xml'))?.retainUntil?.toISOString()).toBe(
        retainUntil.toISOString(),
      );
      const refusal = store.put('archive/2026/invoice-1.xml', Buffer.from('<Forged/>'));
      await expect(refusal).rejects.toMatchObject(retained('archive/2026/invoice-1.xml'));
      await expect(refusal).rejects.toThrow(retainUntil.toISOString());
      expect((await bytesOf(await store.get('archive/2026/invoice-1.xml'))).toString()).toBe('<Invoice/>');
    });

    test('refuses deletion before the retain-until date and allows it once the date has passed', async () => {
      const retainUntil = new Date(Date.now() + 600);
      await store.put('archive/short.pdf', Buffer.from('kept briefly'), { retainUntil });
      await expect(store.delete('archive/short.pdf')).rejects.toMatchObject(retained('archive/short.pdf'));
      await expect(store.delete('archive/short.pdf')).rejects.toThrow(retainUntil.toISOString());
      await sleep(retainUntil.getTime() - Date.now() + 50);
      await store.delete('archive/short.pdf');
      expect(await store.stat('archive/short.pdf')).toBeNull();
      expect(await keysUnder(store, 'archive/')).toEqual([]);
    });

    test('a legal hold blocks deletion and overwrite even after the retain-until date, until it is released', async () => {
      await store.put('archive/disputed.pdf', Buffer.from('evidence'), { retainUntil: new Date(Date.now() - hour) });
      await store.setLegalHold('archive/disputed.pdf', true);
      expect((await store.stat('archive/disputed.pdf'))?.legalHold).toBe(true);
      await expect(store.delete('archive/disputed.pdf')).rejects.toMatchObject(retained('archive/disputed.pdf'));
      await expect(store.delete('archive/disputed.pdf')).rejects.toThrow('legal hold');
      await expect(store.put('archive/disputed.pdf', Buffer.from('x'))).rejects.toMatchObject(
        retained('archive/disputed.pdf'),
      );

      await store.setLegalHold('archive/disputed.pdf', false);
      expect((await store.stat('archive/disputed.pdf'))?.legalHold).toBe(false);
      await store.delete('archive/disputed.pdf');
      expect(await store.stat('archive/disputed.pdf')).toBeNull();
    });

    test('retention can be extended but never shortened', async () => {
      await store.put('archive/ledger.csv', Buffer.from('a;b'), {
        retainUntil: inHours(1),
        metadata: { dossier: '7' },
      });
      const extended = inHours(2);
      await store.setRetention('archive/ledger.csv', extended);
      const info = await store.stat('archive/ledger.csv');
      expect(info?.retainUntil?.getTime()).toBe(extended.getTime());
      expect(info?.metadata).toEqual({ dossier: '7' });

      const shorter = inHours(1.5);
      const refusal = store.setRetention('archive/ledger.csv', shorter);
      await expect(refusal).rejects.toMatchObject(retained('archive/ledger.csv'));
      await expect(refusal).rejects.toThrow(extended.toISOString());
      expect((await store.stat('archive/ledger.csv'))?.retainUntil?.getTime()).toBe(extended.getTime());
      await expect(store.setRetention('archive/ledger.csv', new Date(Date.now() - hour))).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_retention',
      });

      await store.put('archive/unretained.csv', Buffer.from('c'));
      await store.setRetention('archive/unretained.csv', extended);
      await expect(store.delete('archive/unretained.csv')).rejects.toMatchObject(retained('archive/unretained.csv'));
    });

    test('refuses invalid keys, prefixes and metadata', async () => {
      const invalidKeys = [
        '',
        '/etc/passwd',
        'a/../b',
        '..',
        'a/./b',
        'a//b',
        'a/',
        'nul\u0000byte',
        'é'.repeat(513),
        'x'.repeat(255),
      ];
      for (const key of invalidKeys) {
        const invalid = { kind: 'invalid_argument', reason: 'invalid_object_key' };
        await expect(store.put(key, Buffer.from('x'))).rejects.toMatchObject(invalid);
        await expect(store.get(key)).rejects.toMatchObject(invalid);
        await expect(store.stat(key)).rejects.toMatchObject(invalid);
        await expect(store.delete(key)).rejects.toMatchObject(invalid);
        await expect(store.setRetention(key, inHours(1))).rejects.toMatchObject(invalid);
        await expect(store.setLegalHold(key, true)).rejects.toMatchObject(invalid);
      }
      expect(() => store.list('/abs')).toThrow(expect.objectContaining({ reason: 'invalid_object_key' }));
      expect(() => store.list('a/../')).toThrow(expect.objectContaining({ reason: 'invalid_object_key' }));
      const invalidMetadata = { kind: 'invalid_argument', reason: 'invalid_metadata' };
      await expect(store.put('ok', Buffer.from('x'), { metadata: { 'Upper Case': 'x' } })).rejects.toMatchObject(
        invalidMetadata,
      );
      await expect(
        store.put('ok', Buffer.from('x'), { metadata: { 'retain-until': '2099-01-01' } }),
      ).rejects.toMatchObject(invalidMetadata);
      await expect(store.put('ok', Buffer.from('x'), { contentType: 'not a type' })).rejects.toMatchObject({
        reason: 'invalid_content_type',
      });
      await expect(store.put('ok', Buffer.from('x'), { retainUntil: new Date('nonsense') })).rejects.toMatchObject({
        reason: 'invalid_retention',
      });
      expect(await store.stat('ok')).toBeNull();
      // the longest valid key is accepted
      const longest = Array.from({ length: 5 }, (_, index) => `${index}`.repeat(200))
        .join('/')
        .padEnd(1024, 'z');
      await store.put(longest, Buffer.from('long'));
      expect((await store.stat(longest))?.size).toBe(4);
    });

    test('a put whose input stream fails leaves nothing behind, and keeps an earlier version intact', async () => {
      await expect(store.put('uploads/broken.pdf', failingStream())).rejects.toThrow('the upload was interrupted');
      expect(await store.stat('uploads/broken.pdf')).toBeNull();
      expect(await keysUnder(store, 'uploads/')).toEqual([]);

      await store.put('uploads/kept.pdf', Buffer.from('good version'));
      await expect(store.put('uploads/kept.pdf', failingStream())).rejects.toThrow('the upload was interrupted');
      expect((await bytesOf(await store.get('uploads/kept.pdf'))).toString()).toBe('good version');
      expect((await store.stat('uploads/kept.pdf'))?.size).toBe(12);
    });

    test('a put of bytes other than the expected SHA-256 stores nothing, locks nothing and keeps an earlier version', async () => {
      const object = generatedObject(3);
      const stored = await store.put('checked/streamed', object.stream(), { sha256: object.sha256.toUpperCase() });
      expect(stored).toEqual({ key: 'checked/streamed', size: object.size, sha256: object.sha256 });

      const mismatch = {
        kind: 'failed_precondition',
        reason: 'checksum_mismatch',
        message: expect.stringContaining(sha256('forged')),
      };
      const until = inHours(1);
      await expect(
        store.put('checked/new', Buffer.from('forged'), { sha256: sha256('genuine'), retainUntil: until }),
      ).rejects.toMatchObject(mismatch);
      expect(await store.stat('checked/new')).toBeNull();
      await store.put('checked/new', Buffer.from('genuine'), { sha256: sha256('genuine'), retainUntil: until });
      expect((await bytesOf(await store.get('checked/new'))).toString()).toBe('genuine');

      await store.put('checked/kept', Buffer.from('good version'));
      await expect(store.put('checked/kept', Buffer.from('forged'), { sha256: sha256('other') })).rejects.toMatchObject(
        mismatch,
      );
      expect((await bytesOf(await store.get('checked/kept'))).toString()).toBe('good version');
      expect(await keysUnder(store, 'checked/')).toEqual(['checked/kept', 'checked/new', 'checked/streamed']);

      await expect(store.put('checked/bad', Buffer.from('x'), { sha256: 'abc' })).rejects.toMatchObject({
        kind: 'invalid_argument',
        reason: 'invalid_checksum',
      });
    });

    test('reports a missing object as not found', async () => {
      const missing = {
        kind: 'not_found',
        reason: 'object_not_found',
        message: expect.stringContaining('"nowhere/file.pdf"'),
      };
      await expect(store.get('nowhere/file.pdf')).rejects.toMatchObject(missing);
      await expect(store.get('nowhere/file.pdf', { start: 1 })).rejects.toMatchObject(missing);
      await expect(store.delete('nowhere/file.pdf')).rejects.toMatchObject(missing);
      await expect(store.setRetention('nowhere/file.pdf', inHours(1))).rejects.toMatchObject(missing);
      await expect(store.setLegalHold('nowhere/file.pdf', true)).rejects.toMatchObject(missing);
      expect(await store.stat('nowhere/file.pdf')).toBeNull();
    });
  });
}
