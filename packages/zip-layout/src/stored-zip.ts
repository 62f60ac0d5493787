/**
 * A ZIP of stored (uncompressed) entries, written as a stream: each entry's bytes pass through once, with their
 * CRC-32 from zlib's native crc32 (archiver's JavaScript CRC took a fifth of the intake's time on a ZIP
 * download, on the path every byte waits on). The CRC and sizes follow each entry in a data descriptor, so
 * nothing is held but the central directory (about a hundred bytes per entry). ZIP64 records are written
 * where an offset, the directory or the entry count needs them; a single entry stays under 4 GiB.
 *
 * The next entries are opened while one is written (`ahead`), so no entry waits for its file to open.
 */
import type { Readable } from 'node:stream';
import { crc32 } from 'node:zlib';

export interface StoredZipEntry {
  /** the path inside the ZIP (UTF-8) */
  name: string;
  date: Date;
  /** opens the entry's bytes; called at most `ahead` entries before they are written */
  open(): Promise<Readable | AsyncIterable<Uint8Array>>;
}

export interface StoredZipOptions {
  /** entries opened before their turn (default 3) */
  ahead?: number;
  /** ZIP64 records even where they are not needed (to test readers against them) */
  zip64?: 'auto' | 'always';
}

const MAX32 = 0xffffffff;
const MAX16 = 0xffff;
// bit 3: sizes and CRC in a data descriptor after the bytes; bit 11: names are UTF-8
const FLAGS = 0x0808;
const VERSION = 20;
const VERSION_ZIP64 = 45;
const MADE_BY_UNIX = (3 << 8) | VERSION_ZIP64;
// a regular file, rw-r--r--
const FILE_ATTRIBUTES = (0o100644 << 16) >>> 0;

interface Written {
  name: Buffer;
  time: number;
  crc: number;
  size: number;
  offset: number;
}

/** Date and time as MS-DOS stores them (UTC, two-second steps, 1980 to 2107), as archiver wrote them. */
function dosTime(date: Date): number {
  const year = date.getUTCFullYear();
  if (year < 1980) return (1 << 21) | (1 << 16); // 1980-01-01 00:00
  if (year > 2107) return 0xff9fbf7d; // 2107-12-31 23:59:58
  return (
    (((year - 1980) << 25) |
      ((date.getUTCMonth() + 1) << 21) |
      (date.getUTCDate() << 16) |
      (date.getUTCHours() << 11) |
      (date.getUTCMinutes() << 5) |
      (date.getUTCSeconds() >> 1)) >>>
    0
  );
}

function localHeader(entry: Written): Buffer {
  const header = Buffer.alloc(30);
  header.writeUInt32LE(0x04034b50, 0);
  header.writeUInt16LE(VERSION, 4);
  header.writeUInt16LE(FLAGS, 6);
  header.writeUInt16LE(0, 8); // stored
  header.writeUInt32LE(entry.time, 10);
  // CRC and sizes (14..25) are zero: they follow in the data descriptor
  header.writeUInt16LE(entry.name.length, 26);
  header.writeUInt16LE(0, 28);
  return Buffer.concat([header, entry.name]);
}

function dataDescriptor(entry: Written): Buffer {
  const descriptor = Buffer.alloc(16);
  descriptor.writeUInt32LE(0x08074b50, 0);
  descriptor.writeUInt32LE(entry.crc, 4);
  descriptor.writeUInt32LE(entry.size, 8);
  descriptor.writeUInt32LE(entry.size, 12);
  return descriptor;
}

function centralHeader(entry: Written, zip64: boolean): Buffer {
  const farOffset = zip64 || entry.offset >= MAX32;
  const extra = Buffer.alloc(farOffset ? 12 : 0);
  if (farOffset) {
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(8, 2);
    extra.writeBigUInt64LE(BigInt(entry.offset), 4);
  }
  const header = Buffer.alloc(46);
  header.writeUInt32LE(0x02014b50, 0);
  header.writeUInt16LE(MADE_BY_UNIX, 4);
  header.writeUInt16LE(farOffset ? VERSION_ZIP64 : VERSION, 6);
  header.writeUInt16LE(FLAGS, 8);
  header.writeUInt16LE(0, 10);
  header.writeUInt32LE(entry.time, 12);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(entry.size, 20);
  header.writeUInt32LE(entry.size, 24);
  header.writeUInt16LE(entry.name.length, 28);
  header.writeUInt16LE(extra.length, 30);
  // comment length, disk, internal attributes: zero
  header.writeUInt32LE(FILE_ATTRIBUTES, 38);
  header.writeUInt32LE(farOffset ? MAX32 : entry.offset, 42);
  return Buffer.concat([header, entry.name, extra]);
}

function directoryEnd(count: number, start: number, size: number, zip64: boolean): Buffer {
  const parts: Buffer[] = [];
  const needed = zip64 || count >= MAX16 || start >= MAX32 || size >= MAX32;
  if (needed) {
    const record = Buffer.alloc(56);
    record.writeUInt32LE(0x06064b50, 0);
    record.writeBigUInt64LE(44n, 4); // the size of the rest of this record
    record.writeUInt16LE(MADE_BY_UNIX, 12);
    record.writeUInt16LE(VERSION_ZIP64, 14);
    // this disk and the directory's disk: zero
    record.writeBigUInt64LE(BigInt(count), 24);
    record.writeBigUInt64LE(BigInt(count), 32);
    record.writeBigUInt64LE(BigInt(size), 40);
    record.writeBigUInt64LE(BigInt(start), 48);
    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(0x07064b50, 0);
    locator.writeBigUInt64LE(BigInt(start + size), 8);
    locator.writeUInt32LE(1, 16);
    parts.push(record, locator);
  }
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(needed ? MAX16 : count, 8);
  end.writeUInt16LE(needed ? MAX16 : count, 10);
  end.writeUInt32LE(needed ? MAX32 : size, 12);
  end.writeUInt32LE(needed ? MAX32 : start, 16);
  parts.push(end);
  return Buffer.concat(parts);
}

const asBuffer = (bytes: Uint8Array) =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** The ZIP's bytes, pulled as they are wanted: a slow reader holds back the reading of the entries. */
export async function* storedZip(
  entries: readonly StoredZipEntry[],
  options: StoredZipOptions = {},
): AsyncIterable<Buffer> {
  const ahead = options.ahead ?? 3;
  const zip64 = options.zip64 === 'always';
  const opening: Array<Promise<Readable | AsyncIterable<Uint8Array>>> = [];
  const written: Written[] = [];
  let offset = 0;
  let next = 0;
  try {
    for (const entry of entries) {
      while (next < entries.length && opening.length <= ahead) {
        const opened = entries[next++].open();
        opened.catch(() => undefined); // seen when its turn comes
        opening.push(opened);
      }
      const body = await opening.shift()!;
      const current: Written = {
        name: Buffer.from(entry.name, 'utf8'),
        time: dosTime(entry.date),
        crc: 0,
        size: 0,
        offset,
      };
      const header = localHeader(current);
      offset += header.length;
      yield header;
      for await (const chunk of body) {
        current.crc = crc32(chunk, current.crc);
        current.size += chunk.length;
        if (current.size >= MAX32) throw new Error(`the ZIP entry "${entry.name}" is larger than 4 GiB`);
        offset += chunk.length;
        yield asBuffer(chunk);
      }
      const descriptor = dataDescriptor(current);
      offset += descriptor.length;
      yield descriptor;
      written.push(current);
    }
    const start = offset;
    const directory = Buffer.concat(written.map((entry) => centralHeader(entry, zip64)));
    yield directory;
    yield directoryEnd(written.length, start, directory.length, zip64);
  } finally {
    // entries opened ahead and never written (the reader left, or an entry failed) are closed
    for (const opened of opening)
      opened.then(
        (body) => (body as Partial<Readable>).destroy?.(),
        () => undefined,
      );
  }
}
