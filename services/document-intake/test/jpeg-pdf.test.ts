import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PDFDocument, PDFName, PDFRawStream } from 'pdf-lib';
import { inspectPdf } from '../src/domain/file-formats';
import { jpegToPdf, readJpegFrame } from '../src/domain/jpeg-pdf';

const jpeg = readFileSync(path.join(__dirname, 'fixtures/stripe.jpg'));

/** The JPEG with an EXIF segment giving `orientation` right after SOI. */
function withOrientation(orientation: number): Buffer {
  const exif = Buffer.from(`45786966000049492a0008000000010012010300010000000${orientation}000000`, 'hex');
  const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, exif.length + 2]), exif]);
  return Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
}

/** Where each object of a PDF's cross-reference table says it starts, checked against the bytes there. */
function checkCrossReferences(pdf: Buffer): number {
  const text = pdf.toString('latin1');
  const xref = Number(/startxref\n(\d+)\n%%EOF\n$/.exec(text)![1]);
  expect(text.startsWith('xref\n', xref)).toBe(true);
  const [, first, count] = /^xref\n(\d+) (\d+)\n/.exec(text.slice(xref))!.map(Number);
  const entries = text
    .slice(xref)
    .split('\n')
    .slice(2, 2 + count);
  entries.slice(1).forEach((entry, index) => {
    const at = Number(entry.slice(0, 10));
    expect(text.startsWith(`${first + index + 1} 0 obj\n`, at)).toBe(true);
  });
  return count;
}

describe('a JPEG as a PDF', () => {
  it('is a one-page PDF of the pixel size, holding the JPEG unchanged as a DCTDecode image', async () => {
    const pdf = jpegToPdf(jpeg, 'bon.jpg');
    expect(checkCrossReferences(pdf)).toBe(7);
    expect(await inspectPdf(pdf, 'bon.pdf')).toEqual({ pages: 1 });
    const document = await PDFDocument.load(pdf, { updateMetadata: false });
    expect(document.getPageCount()).toBe(1);
    expect(document.getPage(0).getSize()).toEqual({ width: 493, height: 58 });
    const images = document.context
      .enumerateIndirectObjects()
      .map(([, object]) => object)
      .filter((object): object is PDFRawStream => object instanceof PDFRawStream)
      .filter((stream) => stream.dict.get(PDFName.of('Subtype')) === PDFName.of('Image'));
    expect(images).toHaveLength(1);
    expect(images[0].dict.get(PDFName.of('Filter'))).toBe(PDFName.of('DCTDecode'));
    expect(Buffer.from(images[0].getContents()).equals(jpeg)).toBe(true);
    expect(document.getProducer()).toBe('Kantoor');
  });

  it.each([
    [1, 493, 58],
    [3, 493, 58],
    [6, 58, 493],
    [8, 58, 493],
  ])('shows EXIF orientation %i upright on a page of %i × %i', async (orientation, width, height) => {
    const rotated = withOrientation(orientation);
    expect(readJpegFrame(rotated, 'x.jpg')).toMatchObject({ orientation, width: 493, height: 58, components: 3 });
    const document = await PDFDocument.load(jpegToPdf(rotated, 'x.jpg'));
    expect(document.getPage(0).getSize()).toEqual({ width, height });
  });

  it('reads an unreadable EXIF segment as upright', () => {
    const exif = Buffer.from('45786966000049492a00ffff0000', 'hex');
    const app1 = Buffer.concat([Buffer.from([0xff, 0xe1, 0, exif.length + 2]), exif]);
    const odd = Buffer.concat([jpeg.subarray(0, 2), app1, jpeg.subarray(2)]);
    expect(readJpegFrame(odd, 'x.jpg').orientation).toBe(1);
  });

  it('keeps bytes after the end of the image', () => {
    expect(readJpegFrame(Buffer.concat([jpeg, Buffer.alloc(16)]), 'x.jpg').width).toBe(493);
  });

  // the fixture is progressive: its frame is SOF2
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc2]));
  const broken: Array<[string, Buffer]> = [
    ['cut short', jpeg.subarray(0, Math.floor(jpeg.length / 2))],
    ['only its first bytes', jpeg.subarray(0, 3)],
    ['without a frame', Buffer.concat([jpeg.subarray(0, sof), jpeg.subarray(sof + 2 + jpeg.readUInt16BE(sof + 2))])],
    ['with a segment longer than the file', Buffer.concat([jpeg.subarray(0, 4), Buffer.from([0xff, 0xff])])],
    ['with garbage after its first marker', Buffer.concat([jpeg.subarray(0, 2), Buffer.from('not a segment')])],
    ['with a frame of no width', Buffer.from(jpeg).fill(0, sof + 7, sof + 9)],
    ['with five colour components', Buffer.from(jpeg).fill(5, sof + 9, sof + 10)],
  ];
  it.each(broken)('refuses a JPEG %s as damaged', (_what, bytes) => {
    expect(() => jpegToPdf(bytes, 'kapot.jpg')).toThrow(
      expect.objectContaining({ reason: 'corrupt_jpeg', message: '"kapot.jpg" is a damaged JPEG image.' }),
    );
  });
});
