/**
 * A JPEG as a one-page PDF. The JPEG's bytes go into the PDF as they are (a DCTDecode image, which every PDF
 * reader decodes), so nothing is decoded or re-encoded; the PDF around them is a few hundred bytes written
 * here. pdf-lib built the same objects, but its document model, its serialisation (which copied the image
 * byte by byte) and the deflated content stream cost more per image than everything else in the conversion.
 */
import { invalidArgument } from '@kantoor/errors';

/** What a PDF page needs of a JPEG, read from its markers. */
export interface JpegFrame {
  width: number;
  height: number;
  components: 1 | 3 | 4;
  bitsPerComponent: number;
  /** EXIF orientation, 1..8 (1 when absent or unreadable) */
  orientation: number;
}

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP1 = 0xe1;
/** start-of-frame markers: C0..CF but DHT (C4), JPG (C8) and DAC (CC) */
const isFrame = (marker: number) => marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
/** markers without a length: TEM and the restart markers */
const standsAlone = (marker: number) => marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);

const damaged = (fileName: string) =>
  invalidArgument(`"${fileName}" is a damaged JPEG image.`, { reason: 'corrupt_jpeg' });

/**
 * Checks a JPEG's structure up to its image data and reads its frame: it starts with SOI, its segments up to
 * the scan are whole, it has a frame of a size and a colour model a PDF can show (gray, RGB, CMYK) before the
 * scan, and it ends with EOI (a file cut short does not).
 */
export function readJpegFrame(jpeg: Uint8Array, fileName: string): JpegFrame {
  const data = Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength);
  if (data.length < 4 || data[0] !== 0xff || data[1] !== SOI) throw damaged(fileName);
  let frame: Omit<JpegFrame, 'orientation'> | undefined;
  let orientation = 1;
  let offset = 2;
  for (;;) {
    if (offset + 2 > data.length || data[offset] !== 0xff) throw damaged(fileName);
    const marker = data[offset + 1];
    if (marker === 0xff) {
      offset++; // fill byte
      continue;
    }
    if (standsAlone(marker)) {
      offset += 2;
      continue;
    }
    if (marker === SOI || marker === EOI || offset + 4 > data.length) throw damaged(fileName);
    const length = data.readUInt16BE(offset + 2);
    const end = offset + 2 + length;
    if (length < 2 || end > data.length) throw damaged(fileName);
    const segment = data.subarray(offset + 4, end);
    if (isFrame(marker)) {
      if (frame || segment.length < 6) throw damaged(fileName);
      const components = segment[5];
      const height = segment.readUInt16BE(1);
      const width = segment.readUInt16BE(3);
      if (width === 0 || height === 0 || (components !== 1 && components !== 3 && components !== 4))
        throw damaged(fileName);
      frame = { width, height, components, bitsPerComponent: segment[0] };
    } else if (marker === APP1 && orientation === 1) {
      orientation = exifOrientation(segment);
    } else if (marker === SOS) {
      if (!frame) throw damaged(fileName);
      break;
    }
    offset = end;
  }
  // the entropy-coded data runs to EOI; a cut-off file lacks it (bytes after it, as some cameras write, are kept)
  if (data.lastIndexOf(Buffer.from([0xff, EOI])) < offset) throw damaged(fileName);
  return { ...frame, orientation };
}

/** The orientation tag of an APP1 segment holding EXIF, 1 when it has none or the EXIF is unreadable. */
function exifOrientation(segment: Buffer): number {
  if (segment.toString('latin1', 0, 6) !== 'Exif\0\0') return 1;
  const tiff = segment.subarray(6);
  if (tiff.length < 8) return 1;
  const little = tiff.toString('latin1', 0, 2) === 'II';
  const u16 = (at: number) => (little ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (little ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return 1;
  const entries = u16(ifd);
  for (let index = 0; index < entries; index++) {
    const entry = ifd + 2 + index * 12;
    if (entry + 12 > tiff.length) break;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/**
 * The transformation that shows the stored pixels upright, per EXIF orientation: [a b c d e f] for an image
 * drawn at (0,0) with its stored size w×h; orientations 5..8 swap the page's width and height.
 */
function orientationMatrix(orientation: number, w: number, h: number): number[] {
  switch (orientation) {
    case 2:
      return [-1, 0, 0, 1, w, 0];
    case 3:
      return [-1, 0, 0, -1, w, h];
    case 4:
      return [1, 0, 0, -1, 0, h];
    case 5:
      return [0, -1, -1, 0, h, w];
    case 6:
      return [0, -1, 1, 0, 0, w];
    case 7:
      return [0, 1, 1, 0, 0, 0];
    case 8:
      return [0, 1, -1, 0, h, 0];
    default:
      return [1, 0, 0, 1, 0, 0];
  }
}

const COLOUR_SPACES = { 1: '/DeviceGray', 3: '/DeviceRGB', 4: '/DeviceCMYK' } as const;

/** PDF date of a moment, in UTC */
const pdfDate = (at: Date) => `D:${at.toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;

/**
 * A scanned page or photo as a one-page PDF, upright, at 72 dpi of its pixel size: the page draws the JPEG,
 * embedded as is. A damaged JPEG is refused.
 */
export function jpegToPdf(jpeg: Uint8Array, fileName: string, createdAt = new Date()): Buffer {
  const frame = readJpegFrame(jpeg, fileName);
  const { width: w, height: h } = frame;
  const [pageWidth, pageHeight] = frame.orientation >= 5 ? [h, w] : [w, h];
  const content = `q ${orientationMatrix(frame.orientation, w, h).join(' ')} cm ${w} 0 0 ${h} 0 0 cm /Image Do Q`;
  const date = pdfDate(createdAt);
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${pageWidth} ${pageHeight}] ` +
      '/Resources << /XObject << /Image 5 0 R >> >> /Contents 4 0 R >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    `<< /Producer (Kantoor) /CreationDate (${date}) /ModDate (${date}) >>`,
  ];
  // a binary comment after the header, so that transfers treat the file as binary
  let head = '%PDF-1.4\n%\u00e2\u00e3\u00cf\u00d3\n';
  const offsets: number[] = [];
  const add = (number: number, body: string) => {
    offsets[number] = head.length;
    head += `${number} 0 obj\n${body}\nendobj\n`;
  };
  objects.slice(0, 4).forEach((body, index) => add(index + 1, body));
  offsets[5] = head.length;
  head +=
    `5 0 obj\n<< /Type /XObject /Subtype /Image /Width ${w} /Height ${h} ` +
    `/ColorSpace ${COLOUR_SPACES[frame.components]} /BitsPerComponent ${frame.bitsPerComponent} ` +
    // CMYK JPEGs (as Photoshop writes them) are stored inverted
    (frame.components === 4 ? '/Decode [1 0 1 0 1 0 1 0] ' : '') +
    `/Filter /DCTDecode /Length ${jpeg.length} >>\nstream\n`;
  const imageEnd = head.length + jpeg.length;
  let tail = '\nendstream\nendobj\n';
  offsets[6] = imageEnd + tail.length;
  tail += `6 0 obj\n${objects[4]}\nendobj\n`;
  const xref = imageEnd + tail.length;
  tail +=
    'xref\n0 7\n0000000000 65535 f \n' +
    offsets
      .slice(1)
      .map((at) => `${String(at).padStart(10, '0')} 00000 n \n`)
      .join('') +
    `trailer\n<< /Size 7 /Root 1 0 R /Info 6 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.concat([Buffer.from(head, 'latin1'), jpeg, Buffer.from(tail, 'latin1')]);
}
