import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { scratchFolder } from '@kantoor/testing';
import { storedZip, type StoredZipEntry, type StoredZipOptions } from './stored-zip';

const hasUnzip = (() => {
  try {
    execFileSync('unzip', ['-v']);
    return true;
  } catch {
    return false;
  }
})();
const withUnzip = hasUnzip ? test : test.skip;

const bytes = (length: number, seed: number) => Buffer.from(Array.from({ length }, (_, i) => (i * seed + 7) & 0xff));

/** an entry whose bytes arrive in chunks of `chunk` bytes */
const entry = (name: string, content: Buffer, chunk = 65536): StoredZipEntry => ({
  name,
  date: new Date(Date.UTC(2024, 2, 15, 10, 30, 42)),
  open: async () =>
    Readable.from(
      Array.from({ length: Math.ceil(content.length / chunk) }, (_, i) => content.subarray(i * chunk, (i + 1) * chunk)),
    ),
});

async function zipFile(entries: StoredZipEntry[], options?: StoredZipOptions): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of storedZip(entries, options)) chunks.push(chunk);
  const file = join(scratchFolder('kantoor-stored-zip-'), 'documents.zip');
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}

describe('a stored ZIP written as a stream', () => {
  const contents = {
    'Aankoop-pdf/factuur.pdf': bytes(300_000, 3),
    'Aankoop-pdf/leeg.pdf': Buffer.alloc(0),
    'Verkoop-ubl/Crème brûlée €.xml': bytes(1000, 5),
    'Diverse-pdf/groot.pdf': bytes(2_500_000, 11),
  };
  const entries = () => Object.entries(contents).map(([name, content]) => entry(name, content, 70_000));

  for (const zip64 of ['auto', 'always'] as const) {
    withUnzip(`unzip tests it, lists the entries in order and extracts the same bytes (ZIP64 ${zip64})`, async () => {
      const file = await zipFile(entries(), { zip64 });
      execFileSync('unzip', ['-t', file]);
      expect(execFileSync('unzip', ['-Z1', file]).toString().trim().split('\n')).toEqual(Object.keys(contents));
      for (const [name, content] of Object.entries(contents))
        expect(execFileSync('unzip', ['-p', file, name], { maxBuffer: 10e6 }).equals(content)).toBe(true);
      expect(execFileSync('zipinfo', ['-T', file]).toString()).toContain('20240315.103042');
    });
  }

  test('an empty list is an empty ZIP (only the end of the central directory)', async () => {
    const chunks: Buffer[] = [];
    for await (const chunk of storedZip([])) chunks.push(chunk);
    const zip = Buffer.concat(chunks);
    expect(zip.length).toBe(22);
    expect(zip.readUInt32LE(0)).toBe(0x06054b50);
  });

  test('entries are opened a few ahead, not all at once', async () => {
    const opened: number[] = [];
    const many = Array.from({ length: 20 }, (_, i) => ({
      ...entry(`f${i}.pdf`, bytes(10, i)),
      open: async () => (opened.push(i), Readable.from([bytes(10, i)])),
    }));
    const zip = storedZip(many, { ahead: 3 })[Symbol.asyncIterator]();
    await zip.next();
    expect(opened).toEqual([0, 1, 2, 3]);
    await zip.return?.(undefined);
  });

  test('a reader that leaves closes the entries opened ahead', async () => {
    const streams = Array.from({ length: 6 }, () => new PassThrough());
    const many = streams.map((stream, i) => ({ ...entry(`f${i}.pdf`, Buffer.alloc(0)), open: async () => stream }));
    streams[0].write(bytes(100, 1));
    const zip = storedZip(many, { ahead: 3 })[Symbol.asyncIterator]();
    await zip.next(); // the local header of the first entry
    await zip.next(); // its first bytes
    await zip.return?.(undefined);
    await new Promise((resolve) => setImmediate(resolve));
    expect(streams.slice(0, 4).map((stream) => stream.destroyed)).toEqual([true, true, true, true]);
    expect(streams[4].destroyed).toBe(false); // never opened
  });

  test('an entry that cannot be opened fails the ZIP with its error', async () => {
    const failing = { ...entry('weg.pdf', Buffer.alloc(0)), open: () => Promise.reject(new Error('object not found')) };
    const read = async () => {
      for await (const _chunk of storedZip([entry('a.pdf', bytes(10, 1)), failing])) void _chunk;
    };
    await expect(read()).rejects.toThrow('object not found');
  });
});
