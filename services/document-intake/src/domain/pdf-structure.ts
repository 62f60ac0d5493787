/**
 * What the intake must know of an uploaded PDF (is it encrypted, how many pages does it have, can it be read
 * at all) from its structure alone: trailer, cross-reference sections, catalog and page tree, read by byte
 * ranges from where the file is stored. Memory stays at a few small windows whatever the file's size; pdf-lib
 * would hold the whole file and all its objects. Content streams (the bulk of a PDF) are never read.
 *
 * A file whose cross-references do not lead to a page tree is read once more the way PDF readers repair
 * files: a streaming pass records where each object starts and where the catalog is.
 */
import { inflateSync } from 'node:zlib';

/** `length` bytes from `start` (fewer at the end of the file). */
export type ReadRange = (start: number, length: number) => Promise<Buffer>;
/** The whole file once more, as a stream of chunks (for the repair pass). */
export type ReadAll = () => AsyncIterable<Buffer>;

export class PdfStructureError extends Error {
  constructor(
    message: string,
    readonly encrypted = false,
  ) {
    super(message);
  }
}

class Ref {
  constructor(
    readonly num: number,
    readonly gen: number,
  ) {}
}
class Name {
  constructor(readonly name: string) {}
}
type Value = number | boolean | null | string | Name | Ref | Value[] | Dict;
type Dict = Map<string, Value>;
type Entry = { kind: 'at'; offset: number } | { kind: 'in'; stream: number; index: number };

const BLOCK = 64 * 1024;
const CACHED_BLOCKS = 16;
/** the largest cross-reference or object stream this reader decodes (a page tree never needs more) */
const MAX_STREAM = 32 * 1024 * 1024;
const MAX_PAGES = 200_000;
/**
 * Bounds on the work one file can ask for, whatever its size: a 126-byte cross-reference stream can claim a
 * trillion entries, and five small object streams that decompress to 32 MB each, taken in turn by the page tree,
 * were decompressed again for every page (1,000 pages: 69 s). A real PDF of the intake's size stays far below.
 */
const MAX_OBJECTS = 2_000_000;
const MAX_XREF_ROWS = 4_000_000;
const MAX_INFLATED = 128 * 1024 * 1024;
/** the page tree walk lets other work run after this many nodes */
const NODES_PER_TURN = 1000;
const DELIMITER = /[\s()<>[\]{}/%]/;

class Truncated extends Error {}

/** Parses PDF values from a window of the file (latin1, one character a byte). */
class Lexer {
  constructor(
    readonly text: string,
    public pos = 0,
  ) {}

  skipSpace(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c === 0x25) {
        while (this.pos < this.text.length && !'\r\n'.includes(this.text[this.pos])) this.pos++;
      } else if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x0c || c === 0x00) this.pos++;
      else break;
    }
    if (this.pos >= this.text.length) throw new Truncated();
  }

  keyword(word: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(word, this.pos)) return false;
    this.pos += word.length;
    return true;
  }

  integer(): number | undefined {
    this.skipSpace();
    const match = /^\d+/.exec(this.text.slice(this.pos, this.pos + 20));
    if (!match) return undefined;
    if (this.pos + match[0].length >= this.text.length) throw new Truncated();
    this.pos += match[0].length;
    return Number(match[0]);
  }

  value(depth = 0): Value {
    if (depth > 100) throw new PdfStructureError('objects nested too deeply');
    this.skipSpace();
    const text = this.text;
    const c = text[this.pos];
    if (c === '<' && text[this.pos + 1] === '<') {
      this.pos += 2;
      const dict: Dict = new Map();
      while (!this.keyword('>>')) {
        const key = this.value(depth + 1);
        if (!(key instanceof Name)) throw new PdfStructureError('a dictionary key is not a name');
        dict.set(key.name, this.value(depth + 1));
      }
      return dict;
    }
    if (c === '[') {
      this.pos++;
      const array: Value[] = [];
      while (!this.keyword(']')) array.push(this.value(depth + 1));
      return array;
    }
    if (c === '<') {
      const end = text.indexOf('>', this.pos);
      if (end < 0) throw new Truncated();
      const hex = text.slice(this.pos + 1, end);
      this.pos = end + 1;
      return hex;
    }
    if (c === '(') return this.literalString();
    if (c === '/') {
      let end = this.pos + 1;
      while (end < text.length && !DELIMITER.test(text[end])) end++;
      if (end >= text.length) throw new Truncated();
      const name = text.slice(this.pos + 1, end);
      this.pos = end;
      return new Name(name);
    }
    const number = /^[+-]?(\d+\.?\d*|\.\d+)/.exec(text.slice(this.pos, this.pos + 40));
    if (number) {
      if (this.pos + number[0].length >= text.length) throw new Truncated();
      this.pos += number[0].length;
      const value = Number(number[0]);
      if (/^\d+$/.test(number[0])) {
        // `12 0 R` is a reference: look ahead (a window cut in between reads a larger one)
        const back = this.pos;
        const gen = this.integer();
        if (gen !== undefined && this.keyword('R') && (this.pos >= text.length || DELIMITER.test(text[this.pos])))
          return new Ref(value, gen);
        this.pos = back;
      }
      return value;
    }
    for (const [word, value] of [
      ['true', true],
      ['false', false],
      ['null', null],
    ] as const) {
      if (text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    throw new PdfStructureError(`unexpected "${text.slice(this.pos, this.pos + 10)}" at ${this.pos}`);
  }

  private literalString(): string {
    let depth = 0;
    const start = this.pos;
    for (let at = this.pos; at < this.text.length; at++) {
      const c = this.text[at];
      if (c === '\\') at++;
      else if (c === '(') depth++;
      else if (c === ')' && --depth === 0) {
        this.pos = at + 1;
        return this.text.slice(start + 1, at);
      }
    }
    throw new Truncated();
  }
}

/** Fixed-size blocks of the file, the last few kept: neighbouring objects cost one read. */
class BlockReader {
  private readonly blocks = new Map<number, Buffer>();

  constructor(
    private readonly read: ReadRange,
    readonly size: number,
  ) {}

  async bytes(start: number, length: number): Promise<Buffer> {
    const end = Math.min(this.size, start + length);
    if (start < 0 || start >= end) return Buffer.alloc(0);
    if (end - start > BLOCK * 2) return this.read(start, end - start);
    const parts: Buffer[] = [];
    for (let block = Math.floor(start / BLOCK); block * BLOCK < end; block++) {
      let data = this.blocks.get(block);
      if (data) this.blocks.delete(block);
      else data = await this.read(block * BLOCK, BLOCK);
      this.blocks.set(block, data);
      if (this.blocks.size > CACHED_BLOCKS) this.blocks.delete(this.blocks.keys().next().value!);
      const from = Math.max(start, block * BLOCK) - block * BLOCK;
      parts.push(data.subarray(from, Math.min(end - block * BLOCK, data.length)));
    }
    return Buffer.concat(parts);
  }

  /** Parses at `offset` with `parse`, reading a larger window while the value runs past the one read. */
  async parse<T>(offset: number, parse: (lexer: Lexer) => T, limit = 4 * 1024 * 1024): Promise<T> {
    for (let window = 4096; ; window *= 4) {
      const text = (await this.bytes(offset, window)).toString('latin1');
      try {
        return parse(new Lexer(text));
      } catch (error) {
        if (!(error instanceof Truncated)) throw error;
        if (offset + window >= this.size || window >= limit) throw new PdfStructureError(`truncated at ${offset}`);
      }
    }
  }
}

interface Parsed {
  value: Value;
  /** where the stream's bytes start, when the object is a stream */
  streamAt?: number;
}

/** `n g obj` and its value at the start of the window, which begins at `base` in the file. */
function parseObject(lexer: Lexer, base: number, expected?: number): Parsed {
  const num = lexer.integer();
  const gen = lexer.integer();
  if (num === undefined || gen === undefined || !lexer.keyword('obj'))
    throw new PdfStructureError('no object where the cross-references point');
  if (expected !== undefined && num !== expected)
    throw new PdfStructureError(`object ${expected} is not where the cross-references point`);
  const value = lexer.value();
  const mark = lexer.pos;
  if (value instanceof Map && lexer.keyword('stream')) {
    if (lexer.text[lexer.pos] === '\r') lexer.pos++;
    if (lexer.text[lexer.pos] === '\n') lexer.pos++;
    return { value, streamAt: base + lexer.pos };
  }
  lexer.pos = mark;
  return { value };
}

const nameOf = (value: Value | undefined) => (value instanceof Name ? value.name : undefined);
const dictOf = (value: Value | undefined): Dict | undefined => (value instanceof Map ? value : undefined);

class PdfFile {
  /** null: a free entry (the object was deleted) */
  readonly entries = new Map<number, Entry | null>();
  trailer: Dict = new Map();
  private readonly objectStreams = new Map<number, { objects: Map<number, number>; text: string; first: number }>();
  private xrefRows = 0;
  private inflated = 0;

  /** Records where object `num` is (replacing what was known only with `replace`), within MAX_OBJECTS. */
  place(num: number, entry: Entry | null, replace = false): void {
    if (this.entries.has(num)) {
      if (replace) this.entries.set(num, entry);
      return;
    }
    if (this.entries.size >= MAX_OBJECTS) throw new PdfStructureError(`more than ${MAX_OBJECTS} objects`);
    this.entries.set(num, entry);
  }

  /** Counts `rows` cross-reference entries more against MAX_XREF_ROWS, before they are read. */
  private countRows(rows: number): void {
    if (!Number.isInteger(rows) || rows < 0) throw new PdfStructureError('a damaged cross-reference section');
    this.xrefRows += rows;
    if (this.xrefRows > MAX_XREF_ROWS)
      throw new PdfStructureError(`more than ${MAX_XREF_ROWS} cross-reference entries`);
  }

  constructor(readonly file: BlockReader) {}

  async resolve(value: Value | undefined, seen = 0): Promise<Value> {
    if (!(value instanceof Ref)) return value ?? null;
    if (seen > 32) throw new PdfStructureError('a chain of references does not end');
    return this.resolve((await this.object(value.num)).value, seen + 1);
  }

  async object(num: number): Promise<Parsed> {
    const entry = this.entries.get(num);
    if (!entry) return { value: null };
    if (entry.kind === 'at') return this.file.parse(entry.offset, (lexer) => parseObject(lexer, entry.offset, num));
    const stream = await this.objectStream(entry.stream);
    const at = stream.objects.get(num);
    if (at === undefined) throw new PdfStructureError(`object ${num} is not in its object stream`);
    const lexer = new Lexer(stream.text, stream.first + at);
    try {
      return { value: lexer.value() };
    } catch (error) {
      if (error instanceof Truncated) throw new PdfStructureError(`object ${num} is cut off`);
      throw error;
    }
  }

  async streamData(parsed: Parsed): Promise<Buffer> {
    const dict = dictOf(parsed.value)!;
    const length = await this.resolve(dict.get('Length'));
    if (typeof length !== 'number' || length < 0 || length > MAX_STREAM)
      throw new PdfStructureError('a stream without a usable length');
    const raw = await this.file.bytes(parsed.streamAt!, length);
    const filters = [await this.resolve(dict.get('Filter'))].flat().map(nameOf);
    let data = raw;
    for (const filter of filters.filter(Boolean)) {
      if (filter !== 'FlateDecode') throw new PdfStructureError(`a ${filter} structure stream`);
      try {
        data = inflateSync(data, { maxOutputLength: MAX_STREAM });
      } catch {
        throw new PdfStructureError('a structure stream does not decompress');
      }
      this.inflated += data.length;
      if (this.inflated > MAX_INFLATED)
        throw new PdfStructureError(`its structure streams decompress to more than ${MAX_INFLATED} bytes`);
    }
    const parms = dictOf(await this.resolve([await this.resolve(dict.get('DecodeParms'))].flat()[0] ?? null));
    const predictor = parms?.get('Predictor');
    if (typeof predictor === 'number' && predictor >= 10) {
      const columns = parms!.get('Columns');
      data = unpredictPng(data, typeof columns === 'number' ? columns : 1);
    } else if (typeof predictor === 'number' && predictor > 1) {
      throw new PdfStructureError('a TIFF predictor in a structure stream');
    }
    return data;
  }

  private async objectStream(num: number) {
    const known = this.objectStreams.get(num);
    if (known) return known;
    const entry = this.entries.get(num);
    if (entry?.kind !== 'at') throw new PdfStructureError(`object stream ${num} cannot be found`);
    const parsed = await this.file.parse(entry.offset, (lexer) => parseObject(lexer, entry.offset, num));
    const dict = dictOf(parsed.value);
    if (!dict || parsed.streamAt === undefined || nameOf(dict.get('Type')) !== 'ObjStm')
      throw new PdfStructureError(`object ${num} is not an object stream`);
    // a space after the last object, so that a number ending the stream is not taken for a cut-off one
    const text = `${(await this.streamData(parsed)).toString('latin1')} `;
    const count = dict.get('N');
    const first = dict.get('First');
    if (typeof count !== 'number' || typeof first !== 'number')
      throw new PdfStructureError('an object stream without /N or /First');
    const header = new Lexer(text.slice(0, first) + ' ');
    const objects = new Map<number, number>();
    for (let i = 0; i < count; i++) {
      const object = header.integer();
      const offset = header.integer();
      if (object === undefined || offset === undefined) throw new PdfStructureError('a damaged object stream');
      objects.set(object, offset);
    }
    const stream = { objects, text, first };
    // few are needed (the page tree's); keeping the last ones read is enough
    if (this.objectStreams.size >= 4) this.objectStreams.delete(this.objectStreams.keys().next().value!);
    this.objectStreams.set(num, stream);
    return stream;
  }

  /** Every cross-reference section from the newest (startxref) back through /Prev; the newest entry wins. */
  async readCrossReferences(): Promise<void> {
    const tail = (await this.file.bytes(Math.max(0, this.file.size - 2048), 2048)).toString('latin1');
    const start = /startxref\s+(\d+)\s*%%EOF/g;
    let match: RegExpExecArray | null;
    let offset: number | undefined;
    while ((match = start.exec(tail))) offset = Number(match[1]);
    if (offset === undefined) throw new PdfStructureError('no startxref');
    const visited = new Set<number>();
    let first = true;
    const pending = [offset];
    while (pending.length > 0) {
      const at = pending.shift()!;
      if (visited.has(at) || visited.size > 1000) continue;
      visited.add(at);
      const trailer = await this.readSection(at);
      if (first) this.trailer = trailer;
      first = false;
      const stream = trailer.get('XRefStm');
      if (typeof stream === 'number') pending.unshift(stream);
      const prev = trailer.get('Prev');
      if (typeof prev === 'number') pending.push(prev);
    }
  }

  private async readSection(offset: number): Promise<Dict> {
    const head = (await this.file.bytes(offset, 8)).toString('latin1');
    if (head.startsWith('xref')) return this.readTable(offset);
    const parsed = await this.file.parse(offset, (lexer) => parseObject(lexer, offset));
    const dict = dictOf(parsed.value);
    if (!dict || parsed.streamAt === undefined || nameOf(dict.get('Type')) !== 'XRef')
      throw new PdfStructureError('startxref does not point at cross-references');
    const widths = dict.get('W');
    if (!Array.isArray(widths) || widths.length < 3 || widths.some((w) => typeof w !== 'number' || w < 0 || w > 8))
      throw new PdfStructureError('cross-reference stream without usable /W');
    const [w1, w2, w3] = widths as number[];
    const row = w1 + w2 + w3;
    if (row === 0) throw new PdfStructureError('cross-reference stream with /W [0 0 0]');
    const size = dict.get('Size');
    const index = dict.get('Index') ?? [0, typeof size === 'number' ? size : 0];
    if (!Array.isArray(index)) throw new PdfStructureError('cross-reference stream with a damaged /Index');
    const data = await this.streamData(parsed);
    const field = (at: number, width: number, fallback: number) => {
      if (width === 0) return fallback;
      let value = 0;
      for (let i = 0; i < width; i++) value = value * 256 + data[at + i];
      return value;
    };
    let at = 0;
    for (let i = 0; i + 1 < index.length; i += 2) {
      const [from, count] = [index[i], index[i + 1]];
      if (typeof from !== 'number' || typeof count !== 'number') throw new PdfStructureError('a damaged /Index');
      this.countRows(count);
      if (at + count * row > data.length) throw new PdfStructureError('cross-reference stream is cut off');
      for (let n = 0; n < count; n++, at += row) {
        const type = field(at, w1, 1);
        const second = field(at + w1, w2, 0);
        const third = field(at + w1 + w2, w3, 0);
        if (type === 1) this.place(from + n, { kind: 'at', offset: second });
        else if (type === 2) this.place(from + n, { kind: 'in', stream: second, index: third });
        else if (type === 0) this.place(from + n, null);
      }
    }
    return dict;
  }

  private async readTable(offset: number): Promise<Dict> {
    return this.file.parse(
      offset,
      (lexer) => {
        lexer.keyword('xref');
        for (;;) {
          const from = lexer.integer();
          if (from === undefined) break;
          const count = lexer.integer();
          if (count === undefined) throw new PdfStructureError('a damaged cross-reference table');
          this.countRows(count);
          for (let n = 0; n < count; n++) {
            const at = lexer.integer();
            lexer.integer();
            lexer.skipSpace();
            const kind = lexer.text[lexer.pos++];
            if (at === undefined || (kind !== 'n' && kind !== 'f'))
              throw new PdfStructureError('a damaged cross-reference table');
            if (kind === 'n') this.place(from + n, { kind: 'at', offset: at });
            else this.place(from + n, null);
          }
        }
        if (!lexer.keyword('trailer')) throw new PdfStructureError('a cross-reference table without trailer');
        const trailer = dictOf(lexer.value());
        if (!trailer) throw new PdfStructureError('a damaged trailer');
        return trailer;
      },
      64 * 1024 * 1024,
    );
  }

  /** The pages, counted by walking the page tree from the catalog (each node once). */
  async countPages(root: Value | undefined): Promise<number> {
    const catalog = dictOf(await this.resolve(root));
    if (!catalog) throw new PdfStructureError('no catalog');
    const seen = new Set<number>();
    let pages = 0;
    let nodes = 0;
    const walk = async (node: Value | undefined, depth: number): Promise<void> => {
      if (depth > 64) throw new PdfStructureError('the page tree is too deep');
      // what is read comes from memory often (kept blocks), which never gives other work a turn
      if (++nodes % NODES_PER_TURN === 0) await new Promise(setImmediate);
      if (node instanceof Ref) {
        if (seen.has(node.num)) throw new PdfStructureError('the page tree has a loop');
        seen.add(node.num);
      }
      const dict = dictOf(await this.resolve(node));
      if (!dict) throw new PdfStructureError('a page tree node is missing');
      const kids = await this.resolve(dict.get('Kids'));
      if (Array.isArray(kids) && nameOf(dict.get('Type')) !== 'Page') {
        for (const kid of kids) await walk(kid, depth + 1);
      } else if (++pages > MAX_PAGES) throw new PdfStructureError('too many pages');
    };
    await walk(catalog.get('Pages'), 0);
    return pages;
  }
}

function unpredictPng(data: Buffer, columns: number): Buffer {
  const row = columns + 1;
  const out = Buffer.alloc(Math.floor(data.length / row) * columns);
  for (let r = 0; r * row + row <= data.length; r++) {
    const filter = data[r * row];
    for (let c = 0; c < columns; c++) {
      const raw = data[r * row + 1 + c];
      const left = c > 0 ? out[r * columns + c - 1] : 0;
      const up = r > 0 ? out[(r - 1) * columns + c] : 0;
      const upLeft = r > 0 && c > 0 ? out[(r - 1) * columns + c - 1] : 0;
      let value: number;
      if (filter === 0) value = raw;
      else if (filter === 1) value = raw + left;
      else if (filter === 2) value = raw + up;
      else if (filter === 3) value = raw + ((left + up) >> 1);
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        value = raw + (pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft);
      } else throw new PdfStructureError('an unknown PNG predictor');
      out[r * columns + c] = value & 0xff;
    }
  }
  return out;
}

/**
 * The repair pass: where every `n g obj` starts (the last one of a number wins, as with incremental updates),
 * the objects inside object streams, and the catalog; reads the file once as a stream, keeping only offsets.
 */
async function repair(pdf: PdfFile, readAll: ReadAll): Promise<Ref | undefined> {
  // starts only where a number starts: from inside a run of digits every start would read the rest of the run
  const objectHeader = /(?<!\d)(\d+)\s+(\d+)\s+obj\b/g;
  const marks = /\/Type\s*\/(Catalog|ObjStm)\b|\/Encrypt\b/g;
  const OVERLAP = 64;
  let carry = '';
  let base = 0;
  let current: number | undefined;
  let catalog: number | undefined;
  const objectStreams: number[] = [];
  let encrypted = false;
  pdf.entries.clear();
  for await (const chunk of readAll()) {
    const text = carry + chunk.toString('latin1');
    const found: Array<{ at: number; end: number; object?: number; mark?: string }> = [];
    for (const match of text.matchAll(objectHeader))
      found.push({ at: match.index, end: match.index + match[0].length, object: Number(match[1]) });
    for (const match of text.matchAll(marks))
      found.push({ at: match.index, end: match.index + match[0].length, mark: match[1] ?? 'Encrypt' });
    found.sort((a, b) => a.at - b.at);
    for (const item of found) {
      // a match wholly inside the part carried over was seen with the previous chunk
      if (item.end <= carry.length) continue;
      if (item.object !== undefined) {
        current = item.object;
        pdf.place(item.object, { kind: 'at', offset: base + item.at }, true);
      } else if (item.mark === 'Catalog' && current !== undefined) catalog = current;
      else if (item.mark === 'ObjStm' && current !== undefined) objectStreams.push(current);
      else if (item.mark === 'Encrypt') encrypted = true;
    }
    carry = text.slice(-OVERLAP);
    base += text.length - carry.length;
  }
  if (encrypted) throw new PdfStructureError('encrypted', true);
  for (const stream of objectStreams) {
    const parsed = await pdf.object(stream).catch(() => undefined);
    const dict = dictOf(parsed?.value);
    if (!dict || parsed?.streamAt === undefined) continue;
    const data = await pdf.streamData(parsed).catch(() => undefined);
    const first = dict.get('First');
    const count = dict.get('N');
    if (!data || typeof first !== 'number' || typeof count !== 'number') continue;
    const header = new Lexer(data.toString('latin1', 0, first) + ' ');
    for (let i = 0; i < count; i++) {
      const object = header.integer();
      header.integer();
      if (object === undefined) break;
      pdf.place(object, { kind: 'in', stream, index: i });
    }
  }
  if (catalog === undefined) {
    // the catalog may sit in an object stream, where the pass cannot see its /Type
    for (const [num, entry] of pdf.entries) {
      if (entry?.kind !== 'in') continue;
      const value = dictOf((await pdf.object(num).catch(() => undefined))?.value);
      if (nameOf(value?.get('Type')) === 'Catalog') catalog = num;
    }
  }
  return catalog === undefined ? undefined : new Ref(catalog, 0);
}

/**
 * Whether the PDF is encrypted and how many pages it has, read from its structure; throws PdfStructureError
 * (`encrypted` set for an encrypted file) when it is not a PDF that can be read.
 */
export async function readPdfStructure(read: ReadRange, size: number, readAll: ReadAll): Promise<{ pages: number }> {
  const pdf = new PdfFile(new BlockReader(read, size));
  let root: Value | undefined;
  try {
    await pdf.readCrossReferences();
    if (pdf.trailer.has('Encrypt')) throw new PdfStructureError('encrypted', true);
    root = pdf.trailer.get('Root');
    const pages = await pdf.countPages(root);
    if (pages > 0) return { pages };
  } catch (error) {
    if (error instanceof PdfStructureError && error.encrypted) throw error;
    if (!(error instanceof PdfStructureError) && !(error instanceof Truncated)) throw error;
  }
  const catalog = await repair(pdf, readAll);
  if (!catalog) throw new PdfStructureError('no catalog');
  return { pages: await pdf.countPages(catalog) };
}
