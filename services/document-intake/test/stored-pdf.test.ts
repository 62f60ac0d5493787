import { createObjectStore, type ObjectStore } from '@kantoor/object-storage';
import { temporaryFolder } from '@kantoor/testing';
import { inspectPdf } from '../src/domain/file-formats';
import { storedPdf, StreamEnds } from '../src/domain/stored-pdf';

/** A PDF of `objects` in that order (strings, or a number for a content stream of that many random bytes). */
function pdfOf(objects: Array<string | number>, pageObjects: number): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n')];
  let length = parts[0].length;
  const offsets: number[] = [];
  const push = (bytes: Buffer) => (parts.push(bytes), (length += bytes.length));
  objects.forEach((object, i) => {
    offsets.push(length);
    if (typeof object === 'string') push(Buffer.from(`${i + 1} 0 obj\n${object}\nendobj\n`));
    else {
      push(Buffer.from(`${i + 1} 0 obj\n<< /Length ${object} >>\nstream\n`));
      push(Buffer.from(Array.from({ length: object }, (_, at) => (at * 7919) & 0xff)));
      push(Buffer.from('\nendstream\nendobj\n'));
    }
  });
  const xref = length;
  const table = offsets.map((at) => `${String(at).padStart(10, '0')} 00000 n \n`).join('');
  const size = objects.length + 1;
  push(
    Buffer.from(
      `xref\n0 ${size}\n0000000000 65535 f \n${table}trailer\n<< /Size ${size} /Root ${pageObjects} 0 R >>\n`,
    ),
  );
  push(Buffer.from(`startxref\n${xref}\n%%EOF\n`));
  return Buffer.concat(parts);
}

/** Catalog, page tree and two pages (objects `at`…`at + 3`), their content in object `content`. */
const pageTree = (at: number, content: number) => [
  `<< /Type /Catalog /Pages ${at + 1} 0 R >>`,
  `<< /Type /Pages /Kids [${at + 2} 0 R ${at + 3} 0 R] /Count 2 >>`,
  `<< /Type /Page /Parent ${at + 1} 0 R /MediaBox [0 0 595 842] /Contents ${content} 0 R >>`,
  `<< /Type /Page /Parent ${at + 1} 0 R /MediaBox [0 0 595 842] /Contents ${content} 0 R >>`,
];

describe('an uploaded PDF checked after it is stored', () => {
  let folder: { path: string; remove(): Promise<void> };
  let store: ObjectStore;
  let reads: number;

  beforeAll(async () => {
    folder = await temporaryFolder('kantoor-stored-pdf-');
    const real = await createObjectStore({ kind: 'folder', root: folder.path });
    store = Object.assign(Object.create(real) as ObjectStore, {
      get: (...args: Parameters<ObjectStore['get']>) => (reads++, real.get(...args)),
    });
  });
  afterAll(() => folder.remove());
  beforeEach(() => (reads = 0));

  /** stores `pdf` in chunks of `chunk` bytes as an upload does, keeping its ends on the way */
  async function upload(key: string, pdf: Buffer, chunk: number) {
    const ends = new StreamEnds();
    const chunks = Array.from({ length: Math.ceil(pdf.length / chunk) }, (_, i) =>
      pdf.subarray(i * chunk, (i + 1) * chunk),
    );
    for (const part of chunks) ends.add(part);
    const object = await store.put(key, pdf);
    return { object, ends: ends.result() };
  }

  test.each([1000, 65536, 300_000, 2 * 1024 * 1024])(
    'the ends kept are the first and last bytes of the file (chunks of %i bytes)',
    async (chunk) => {
      const pdf = pdfOf([...pageTree(1, 5), 700_000], 1);
      const { ends } = await upload(`ends-${chunk}`, pdf, chunk);
      expect(ends.head.equals(pdf.subarray(0, 64 * 1024))).toBe(true);
      expect(ends.tailStart).toBe(pdf.length - 128 * 1024);
      expect(ends.tail.equals(pdf.subarray(ends.tailStart))).toBe(true);
    },
  );

  test('a PDF whose structure lies at its start and end is checked without reading the store', async () => {
    const pdf = pdfOf([...pageTree(1, 5), 900_000], 1);
    const { object, ends } = await upload('at-the-ends', pdf, 256 * 1024);
    await expect(inspectPdf(storedPdf(store, object, ends), 'a.pdf')).resolves.toEqual({ pages: 2 });
    expect(reads).toBe(0);
  });

  test('a page tree in the middle of the file is read from the store, with the same answer', async () => {
    const pdf = pdfOf([400_000, ...pageTree(2, 1), 400_000], 2);
    const { object, ends } = await upload('in-the-middle', pdf, 64 * 1024);
    await expect(inspectPdf(storedPdf(store, object, ends), 'b.pdf')).resolves.toEqual({ pages: 2 });
    expect(reads).toBeGreaterThan(0);
    reads = 0;
    await expect(inspectPdf(storedPdf(store, object), 'b.pdf')).resolves.toEqual({ pages: 2 });
  });

  test('a small PDF lies wholly in the kept bytes', async () => {
    const pdf = pdfOf([...pageTree(1, 5), 2000], 1);
    const { object, ends } = await upload('small', pdf, 500);
    expect(ends.tail.equals(pdf)).toBe(true);
    await expect(inspectPdf(storedPdf(store, object, ends), 'c.pdf')).resolves.toEqual({ pages: 2 });
    expect(reads).toBe(0);
  });

  test('a damaged PDF is still refused from the kept bytes', async () => {
    const pdf = pdfOf([...pageTree(1, 5), 300_000], 1);
    const cut = pdf.subarray(0, pdf.length - 200);
    const { object, ends } = await upload('damaged', cut, 256 * 1024);
    await expect(inspectPdf(storedPdf(store, object, ends), 'd.pdf')).rejects.toMatchObject({ reason: 'corrupt_pdf' });
  });
});
