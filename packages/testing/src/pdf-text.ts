/**
 * The text a reader sees in a PDF, for tests of the PDFs the platform writes: every string shown by the
 * text operators of each page's content streams, with where it stands, its font and size. Made for PDFs with
 * simple fonts (the 14 standard fonts in WinAnsi, as pdf-lib writes them); not a general PDF text extractor.
 */
import {
  decodePDFRawStream,
  PDFArray,
  PDFDict,
  PDFDocument,
  PDFName,
  PDFRawStream,
  PDFRef,
  type PDFObject,
} from 'pdf-lib';

export interface PdfTextItem {
  /** 1-based */
  page: number;
  x: number;
  /** the baseline, from the bottom of the page */
  y: number;
  size: number;
  /** the font's BaseFont, e.g. Helvetica-Bold */
  font: string;
  text: string;
}

export interface PdfText {
  items: PdfTextItem[];
  pageSizes: Array<{ width: number; height: number }>;
  /** each page's text as lines (items on one baseline joined left to right by a space), top to bottom */
  pages: string[][];
  /** all pages' lines as one text */
  text: string;
}

/** Windows-1252's 0x80-0x9F, which WinAnsiEncoding shares (undefined codes are left as they are). */
const WIN_ANSI_HIGH = '€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8DŽ\x8F\x90‘’“”•–—˜™š›œ\x9DžŸ';

const winAnsiText = (bytes: number[]) =>
  bytes.map((byte) => (byte >= 0x80 && byte <= 0x9f ? WIN_ANSI_HIGH[byte - 0x80] : String.fromCharCode(byte))).join('');

type Token = number | string | { name: string } | { bytes: number[] } | Token[];

/** The tokens of a content stream: numbers, names, strings (as bytes), arrays, and operators (as plain strings). */
function* tokens(source: Uint8Array): Generator<Token> {
  const text = Buffer.from(source).toString('latin1');
  let at = 0;
  const stack: Token[][] = [];
  const emit = function* (token: Token): Generator<Token> {
    if (stack.length > 0) stack.at(-1)!.push(token);
    else yield token;
  };
  while (at < text.length) {
    const c = text[at];
    if (/\s/.test(c)) {
      at++;
    } else if (c === '%') {
      while (at < text.length && text[at] !== '\n' && text[at] !== '\r') at++;
    } else if (c === '[') {
      stack.push([]);
      at++;
    } else if (c === ']') {
      const array = stack.pop() ?? [];
      at++;
      yield* emit(array);
    } else if (c === '/') {
      const match = /^\/[^\s()<>[\]{}/%]*/.exec(text.slice(at))![0];
      at += match.length;
      yield* emit({ name: match.slice(1) });
    } else if (c === '<' && text[at + 1] === '<') {
      // an inline dictionary (marked content properties): skipped whole
      let depth = 0;
      do {
        if (text.startsWith('<<', at)) depth++;
        else if (text.startsWith('>>', at)) depth--;
        at += text.startsWith('<<', at) || text.startsWith('>>', at) ? 2 : 1;
      } while (depth > 0 && at < text.length);
    } else if (c === '<') {
      const end = text.indexOf('>', at);
      const hex = text.slice(at + 1, end).replace(/\s+/g, '');
      const padded = hex.length % 2 ? `${hex}0` : hex;
      const bytes: number[] = [];
      for (let i = 0; i < padded.length; i += 2) bytes.push(parseInt(padded.slice(i, i + 2), 16));
      at = end + 1;
      yield* emit({ bytes });
    } else if (c === '(') {
      const bytes: number[] = [];
      let depth = 1;
      at++;
      while (at < text.length && depth > 0) {
        const d = text[at++];
        if (d === '\\') {
          const e = text[at++];
          const escapes: Record<string, number> = { n: 10, r: 13, t: 9, b: 8, f: 12 };
          if (e in escapes) bytes.push(escapes[e]);
          else if (/[0-7]/.test(e)) {
            let octal = e;
            while (octal.length < 3 && /[0-7]/.test(text[at])) octal += text[at++];
            bytes.push(parseInt(octal, 8) & 0xff);
          } else if (e === '\r' || e === '\n') {
            if (e === '\r' && text[at] === '\n') at++;
          } else bytes.push(e.charCodeAt(0));
        } else {
          if (d === '(') depth++;
          if (d === ')' && --depth === 0) break;
          bytes.push(d.charCodeAt(0));
        }
      }
      yield* emit({ bytes });
    } else {
      const match = /^[^\s()<>[\]{}/%]+/.exec(text.slice(at))![0];
      at += match.length;
      const number = Number(match);
      yield* emit(Number.isNaN(number) ? match : number);
    }
  }
}

function contentBytes(document: PDFDocument, contents: PDFObject | undefined): Uint8Array[] {
  const resolved = contents instanceof PDFRef ? document.context.lookup(contents) : contents;
  if (resolved instanceof PDFArray)
    return resolved.asArray().flatMap((entry) => contentBytes(document, entry as PDFObject));
  if (resolved instanceof PDFRawStream) return [decodePDFRawStream(resolved).decode()];
  return [];
}

/** Reads the text of `bytes`, a PDF. */
export async function pdfText(bytes: Uint8Array): Promise<PdfText> {
  const document = await PDFDocument.load(bytes, { updateMetadata: false });
  const items: PdfTextItem[] = [];
  const pageSizes = document.getPages().map((page) => page.getSize());
  document.getPages().forEach((page, index) => {
    const fonts = new Map<string, string>();
    const fontDict = page.node.Resources()?.lookupMaybe(PDFName.of('Font'), PDFDict);
    for (const [key, value] of fontDict?.entries() ?? []) {
      const font = document.context.lookup(value, PDFDict);
      fonts.set(key.asString().slice(1), font.lookupMaybe(PDFName.of('BaseFont'), PDFName)?.asString().slice(1) ?? '');
    }
    let font = '';
    let size = 0;
    let leading = 0;
    let line = { x: 0, y: 0 };
    let at = { x: 0, y: 0 };
    const operands: Token[] = [];
    const show = (strings: Token[]) => {
      const text = strings
        .map((token) => (typeof token === 'object' && 'bytes' in token ? winAnsiText(token.bytes) : ''))
        .join('');
      if (text) items.push({ page: index + 1, x: at.x, y: at.y, size, font, text });
    };
    const moveTo = (x: number, y: number) => {
      line = { x, y };
      at = { ...line };
    };
    for (const contents of contentBytes(document, page.node.Contents())) {
      for (const token of tokens(contents)) {
        if (typeof token !== 'string') {
          operands.push(token);
          continue;
        }
        const args = operands.splice(0);
        const n = (i: number) => args[i] as number;
        switch (token) {
          case 'BT':
            moveTo(0, 0);
            break;
          case 'Tf':
            font = fonts.get((args[0] as { name: string }).name) ?? '';
            size = n(1);
            break;
          case 'TL':
            leading = n(0);
            break;
          case 'Tm':
            moveTo(n(4), n(5));
            break;
          case 'Td':
            moveTo(line.x + n(0), line.y + n(1));
            break;
          case 'TD':
            leading = -n(1);
            moveTo(line.x + n(0), line.y + n(1));
            break;
          case 'T*':
            moveTo(line.x, line.y - leading);
            break;
          case 'Tj':
            show(args);
            break;
          case "'":
            moveTo(line.x, line.y - leading);
            show(args);
            break;
          case '"':
            moveTo(line.x, line.y - leading);
            show(args.slice(2));
            break;
          case 'TJ':
            show((args[0] as Token[]).filter((entry) => typeof entry === 'object'));
            break;
        }
      }
    }
  });
  const pages = pageSizes.map((_size, index) => {
    const onPage = items.filter((item) => item.page === index + 1);
    const baselines = [...new Set(onPage.map((item) => Math.round(item.y * 10) / 10))].sort((a, b) => b - a);
    return baselines.map((y) =>
      onPage
        .filter((item) => Math.round(item.y * 10) / 10 === y)
        .sort((a, b) => a.x - b.x)
        .map((item) => item.text)
        .join(' '),
    );
  });
  return { items, pageSizes, pages, text: pages.map((lines) => lines.join('\n')).join('\n') };
}
