import { deflateSync } from 'node:zlib';
import { PDFDocument } from 'pdf-lib';
import { inspectPdf, type PdfSource } from '../src/domain/file-formats';

async function pdf(pages: number, options: { useObjectStreams?: boolean; filler?: number } = {}): Promise<Buffer> {
  const doc = await PDFDocument.create();
  for (let i = 0; i < pages; i++) {
    const page = doc.addPage([200, 200]);
    page.drawText(`page ${i + 1}`);
  }
  // a large, incompressible stream: what makes real PDFs big (images, fonts), which the check never reads
  if (options.filler) {
    const noise = Buffer.alloc(options.filler);
    for (let i = 0, x = 7; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    doc.context.register(doc.context.flateStream(noise));
  }
  return Buffer.from(await doc.save({ useObjectStreams: options.useObjectStreams ?? true }));
}

/** A PDF kept elsewhere that counts what is read of it; reading it whole is refused unless allowed. */
function counted(bytes: Buffer, allowWhole = false, chunkBytes = 1000) {
  const source: PdfSource & { bytesRead: number } = {
    size: bytes.length,
    bytesRead: 0,
    async read(start, length) {
      const part = bytes.subarray(start, start + length);
      source.bytesRead += part.length;
      return Buffer.from(part);
    },
    readAll: async function* () {
      if (!allowWhole) throw new Error('the whole file was read');
      for (let at = 0; at < bytes.length; at += chunkBytes) {
        source.bytesRead += Math.min(chunkBytes, bytes.length - at);
        yield bytes.subarray(at, at + chunkBytes);
      }
    },
  };
  return source;
}

describe('checking a PDF from its structure', () => {
  it('counts the pages with and without object streams (cross-reference stream or table)', async () => {
    expect(await inspectPdf(counted(await pdf(3)), 'a.pdf')).toEqual({ pages: 3 });
    expect(await inspectPdf(counted(await pdf(5, { useObjectStreams: false })), 'b.pdf')).toEqual({ pages: 5 });
  });

  it('reads only the structure of a large PDF, not its content', async () => {
    const large = await pdf(2, { filler: 8 * 1024 * 1024 });
    const source = counted(large);
    expect(await inspectPdf(source, 'large.pdf')).toEqual({ pages: 2 });
    expect(source.bytesRead).toBeLessThan(300 * 1024);
  });

  it('follows incremental updates: the newest version of an object counts', async () => {
    const base = (await pdf(3, { useObjectStreams: false })).toString('latin1');
    const pagesNumber = /\/Pages (\d+) 0 R/.exec(base)![1];
    const firstKid = new RegExp(`${pagesNumber} 0 obj\\s*<<[^]*?/Kids \\[ (\\d+) 0 R`).exec(base)![1];
    const rootNumber = /\/Root (\d+) 0 R/.exec(base)![1];
    const size = /\/Size (\d+)/.exec(base)![1];
    const previous = /startxref\s+(\d+)/.exec(base)![1];
    const object = `\n${pagesNumber} 0 obj\n<< /Type /Pages /Kids [ ${firstKid} 0 R ] /Count 1 >>\nendobj\n`;
    const objectAt = base.length + 1;
    const xrefAt = base.length + object.length;
    const update =
      `${object}xref\n0 1\n0000000000 65535 f \n${pagesNumber} 1\n${String(objectAt).padStart(10, '0')} 00000 n \n` +
      `trailer\n<< /Size ${size} /Root ${rootNumber} 0 R /Prev ${previous} >>\nstartxref\n${xrefAt}\n%%EOF\n`;
    const updated = Buffer.from(base + update, 'latin1');
    expect(await inspectPdf(counted(updated), 'updated.pdf')).toEqual({ pages: 1 });
  });

  it('repairs a PDF whose cross-references point beside the objects, as PDF readers do', async () => {
    for (const useObjectStreams of [true, false]) {
      const bytes = await pdf(4, { useObjectStreams });
      const shifted = Buffer.concat([
        bytes.subarray(0, 15),
        Buffer.from('% inserted by an editor\n'),
        bytes.subarray(15),
      ]);
      expect(await inspectPdf(counted(shifted, true), 'shifted.pdf')).toEqual({ pages: 4 });
    }
  });

  it('repairs a PDF holding a long run of digits in linear time', async () => {
    // where each digit was a place to start looking for "n g obj", a 256 KiB run took 33 s to search
    const bytes = await pdf(2, { useObjectStreams: false });
    const digits = Buffer.from(`%${'7'.repeat(2 * 1024 * 1024)}\n`);
    const padded = Buffer.concat([bytes.subarray(0, 15), digits, bytes.subarray(15)]);
    const started = Date.now();
    expect(await inspectPdf(counted(padded, true, 256 * 1024), 'digits.pdf')).toEqual({ pages: 2 });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('refuses at once a tiny PDF whose cross-reference stream claims more entries than it holds', async () => {
    const claiming = (index: string, widths = '0 0 0') => {
      const head = '%PDF-1.7\n';
      const xref = `1 0 obj\n<< /Type /XRef /W [${widths}] /Index [${index}] /Size 1 /Length 0 >>\nstream\n\nendstream\nendobj\n`;
      return Buffer.from(`${head}${xref}startxref\n${head.length}\n%%EOF\n`, 'latin1');
    };
    const started = Date.now();
    // with entries 0 bytes wide, a trillion of them were read from nothing (10 s and 1.5 GB, then a crash)
    for (const file of [
      claiming('0 1000000000000'),
      claiming(Array(20).fill('0 5000000').join(' ')),
      claiming('0 1000000000000', '1 2 1'),
    ])
      await expect(inspectPdf(counted(file, true), 'claims.pdf')).rejects.toMatchObject({ reason: 'corrupt_pdf' });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('stops reading a PDF whose page tree makes it decompress the same streams again and again', async () => {
    // five object streams of 32 MB of spaces (about 32 KB each compressed), the pages taken from them in turn:
    // the four last read are kept, so each page decompressed one again (1,000 pages: 69 s)
    const pages = 1000;
    const streams = 5;
    const parts: Buffer[] = [];
    const offsets = new Map<number, number>();
    let size = 0;
    const add = (part: Buffer | string) => {
      const bytes = typeof part === 'string' ? Buffer.from(part, 'latin1') : part;
      parts.push(bytes);
      size += bytes.length;
    };
    const object = (num: number, text: string) => (offsets.set(num, size), add(`${num} 0 obj\n${text}`));
    add('%PDF-1.7\n');
    object(1, '<< /Type /Catalog /Pages 2 0 R >>\nendobj\n');
    const kids = Array.from({ length: pages }, (_, i) => `${10 + i} 0 R`).join(' ');
    object(2, `<< /Type /Pages /Kids [${kids}] /Count ${pages} >>\nendobj\n`);
    const inStream = new Map<number, [number, number]>();
    for (let s = 0; s < streams; s++) {
      let header = '';
      let body = '';
      for (let page = s, k = 0; page < pages; page += streams, k++) {
        inStream.set(10 + page, [3 + s, k]);
        header += `${10 + page} ${body.length} `;
        body += '<< /Type /Page >> ';
      }
      const raw = Buffer.alloc(32 * 1024 * 1024 - 1000, 0x20);
      raw.write(header + body, 'latin1');
      const packed = deflateSync(raw);
      const dict = `/Type /ObjStm /N ${inStream.size / (s + 1)} /First ${header.length} /Filter /FlateDecode`;
      object(3 + s, `<< ${dict} /Length ${packed.length} >>\nstream\n`);
      add(packed);
      add('\nendstream\nendobj\n');
    }
    const xrefNum = 3 + streams;
    const rows = Array.from({ length: 10 + pages }, (_, num) => {
      const row = Buffer.alloc(7);
      const at = num === xrefNum ? size : offsets.get(num);
      const packed = inStream.get(num);
      if (at !== undefined) {
        row[0] = 1;
        row.writeUInt32BE(at, 1);
      } else if (packed) {
        row[0] = 2;
        row.writeUInt32BE(packed[0], 1);
        row.writeUInt16BE(packed[1], 5);
      }
      return row;
    });
    const xref = Buffer.concat(rows);
    const xrefAt = size;
    object(xrefNum, `<< /Type /XRef /W [1 4 2] /Size ${rows.length} /Root 1 0 R /Length ${xref.length} >>\nstream\n`);
    add(xref);
    add(`\nendstream\nendobj\nstartxref\n${xrefAt}\n%%EOF\n`);
    const file = Buffer.concat(parts);
    expect(file.length).toBeLessThan(300_000);
    const started = Date.now();
    await expect(inspectPdf(counted(file, true), 'bomb.pdf')).rejects.toMatchObject({ reason: 'corrupt_pdf' });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('refuses encrypted, incomplete and unreadable PDFs', async () => {
    const classic = (await pdf(1, { useObjectStreams: false })).toString('latin1');
    const encrypted = Buffer.from(classic.replace('/Root', '/Encrypt 99 0 R /Root'), 'latin1');
    await expect(inspectPdf(counted(encrypted), 'e.pdf')).rejects.toMatchObject({ reason: 'encrypted_pdf' });
    const bytes = await pdf(1);
    await expect(inspectPdf(counted(bytes.subarray(0, bytes.length - 100)), 'cut.pdf')).rejects.toMatchObject({
      reason: 'corrupt_pdf',
    });
    const garbage = Buffer.from('%PDF-1.7\nnothing here that a reader could use\n%%EOF\n');
    await expect(inspectPdf(counted(garbage, true), 'garbage.pdf')).rejects.toMatchObject({ reason: 'corrupt_pdf' });
  });
});
