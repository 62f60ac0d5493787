import { PDFDocument, StandardFonts, rgb, type PDFFont, type PDFPage } from 'pdf-lib';

/** A paragraph: wrapped to the page width, continued on the next page when the page is full. */
export interface TextBlock {
  text: string;
  bold?: boolean;
  size?: number;
  /** extra space before the block, in points */
  gap?: number;
  /** a heading: moved to the next page rather than left alone at the bottom of one */
  heading?: boolean;
}

export interface TableColumn {
  /** points */
  width: number;
  align?: 'left' | 'right';
}

export interface TableRow {
  /** one text per column; `\n` starts a new line inside the cell */
  cells: string[];
  bold?: boolean;
}

/**
 * A table: every cell wraps within its column, a row is kept on one page when it fits on one, and the header
 * is repeated on each page the table continues on.
 */
export interface TableBlock {
  columns: TableColumn[];
  header?: string[];
  rows: Array<string[] | TableRow>;
  size?: number;
  gap?: number;
}

export type Block = TextBlock | TableBlock;

export interface TextPdfOptions {
  /** said at the end of the PDF when some character could not be shown and was printed as "?" */
  replacementNote?: string;
}

const A4: [number, number] = [595.28, 841.89];
const MARGIN = 50;
/** the usable width of a page */
export const TEXT_WIDTH = A4[0] - 2 * MARGIN;
const CELL_PADDING = 6;
const ROW_SPACING = 3;
const REPLACEMENT = '?';

/** What the standard fonts' WinAnsi encoding holds besides printable ASCII and Latin-1. */
const WIN_ANSI_EXTRA = '€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ';
const NOT_WIN_ANSI = new RegExp(`[^\\n\\x20-\\x7E\\xA0-\\xFF${WIN_ANSI_EXTRA}]`, 'gu');

/**
 * Text the standard fonts can draw. Composed characters are first put together (e + ´ is é); a character outside
 * WinAnsi (Polish ł, Greek, CJK, emoji ...) becomes a visible "?", one per character, so any name or mail body
 * renders and nothing throws.
 */
export function winAnsi(value: string): string {
  return value.normalize('NFC').replace(/\r\n?/g, '\n').replace(/\t/g, '    ').replace(NOT_WIN_ANSI, REPLACEMENT);
}

const hasUnencodable = (value: string) => new RegExp(NOT_WIN_ANSI.source, 'u').test(value.normalize('NFC'));

const isTable = (block: Block): block is TableBlock => 'columns' in block;

/**
 * A plain, readable A4 PDF from paragraphs and tables: the rendition of an invoice without its own PDF and of an
 * HTML mail body. Standard fonts only (no font files to ship), so text outside WinAnsi is printed as "?" rather
 * than failing the intake. Long text wraps, a full page continues on the next one, and every page is numbered.
 */
export async function writeTextPdf(title: string, blocks: Block[], options: TextPdfOptions = {}): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  pdf.setTitle(winAnsi(title));
  pdf.setProducer('Kantoor');
  const layout = new Layout(pdf, {
    regular: await pdf.embedFont(StandardFonts.Helvetica),
    bold: await pdf.embedFont(StandardFonts.HelveticaBold),
  });
  let replaced = hasUnencodable(title);
  for (const block of blocks) {
    if (isTable(block)) {
      replaced ||= [block.header ?? [], ...block.rows.map(cellsOf)].some((cells) => cells.some(hasUnencodable));
      layout.table(block);
    } else {
      replaced ||= hasUnencodable(block.text);
      layout.paragraph(block);
    }
  }
  if (replaced && options.replacementNote) layout.paragraph({ text: options.replacementNote, size: 8, gap: 12 });
  layout.footers(winAnsi(title));
  return pdf.save();
}

const cellsOf = (row: string[] | TableRow) => (Array.isArray(row) ? row : row.cells);

const lineHeight = (size: number) => size * 1.3;

class Layout {
  private page: PDFPage;
  private y: number;
  /** drawn at the top of the next page (a table's header while the table goes on) */
  private onNewPage?: () => void;

  constructor(
    private readonly pdf: PDFDocument,
    private readonly fonts: { regular: PDFFont; bold: PDFFont },
  ) {
    this.page = pdf.addPage(A4);
    this.y = A4[1] - MARGIN;
  }

  paragraph(block: TextBlock): void {
    const size = block.size ?? 10;
    const font = block.bold ? this.fonts.bold : this.fonts.regular;
    this.y -= block.gap ?? 0;
    const lines = winAnsi(block.text)
      .split('\n')
      .flatMap((paragraph) => wrap(paragraph, font, size, TEXT_WIDTH));
    // a heading keeps its first few lines of content with it
    if (block.heading) this.room(lineHeight(size) * lines.length + lineHeight(10) * 3);
    for (const line of lines) this.page.drawText(line, { x: MARGIN, y: this.nextLine(size), size, font });
  }

  table(block: TableBlock): void {
    const size = block.size ?? 9;
    this.y -= block.gap ?? 0;
    const xs = block.columns.reduce<number[]>((at, column, index) => [...at, at[index] + column.width], [MARGIN]);
    const layoutRow = (cells: string[], bold: boolean) => {
      const font = bold ? this.fonts.bold : this.fonts.regular;
      const wrapped = block.columns.map((column, index) =>
        winAnsi(cells[index] ?? '')
          .split('\n')
          .flatMap((paragraph) => wrap(paragraph, font, size, column.width - CELL_PADDING)),
      );
      return { font, wrapped, lines: Math.max(1, ...wrapped.map((cell) => cell.length)) };
    };
    const drawLine = (row: ReturnType<typeof layoutRow>, line: number) => {
      const y = this.nextLine(size);
      block.columns.forEach((column, index) => {
        const text = row.wrapped[index][line];
        if (!text) return;
        const x =
          column.align === 'right' ? xs[index + 1] - CELL_PADDING - row.font.widthOfTextAtSize(text, size) : xs[index];
        this.page.drawText(text, { x, y, size, font: row.font });
      });
    };
    const header = block.header && layoutRow(block.header, true);
    const drawHeader = () => {
      if (!header) return;
      for (let line = 0; line < header.lines; line++) drawLine(header, line);
      this.page.drawLine({
        start: { x: MARGIN, y: this.y - 2 },
        end: { x: xs.at(-1)!, y: this.y - 2 },
        thickness: 0.5,
        color: rgb(0.5, 0.5, 0.5),
      });
      this.y -= ROW_SPACING + 2;
    };
    const headerHeight = header ? header.lines * lineHeight(size) + ROW_SPACING + 2 : 0;
    const firstRow =
      block.rows[0] && layoutRow(cellsOf(block.rows[0]), !Array.isArray(block.rows[0]) && !!block.rows[0].bold);
    // the header never stands alone at the bottom of a page
    this.room(headerHeight + (firstRow ? firstRow.lines : 1) * lineHeight(size));
    drawHeader();
    this.onNewPage = drawHeader;
    try {
      block.rows.forEach((input, index) => {
        const row = index === 0 ? firstRow! : layoutRow(cellsOf(input), !Array.isArray(input) && !!input.bold);
        // a row that fits on a page is not split over two; a longer one continues line by line
        const height = row.lines * lineHeight(size);
        if (height <= A4[1] - 2 * MARGIN - headerHeight) this.room(height);
        for (let line = 0; line < row.lines; line++) drawLine(row, line);
        this.y -= ROW_SPACING;
      });
    } finally {
      this.onNewPage = undefined;
    }
  }

  /** "title - page 1 of 3" at the foot of every page */
  footers(title: string): void {
    const pages = this.pdf.getPages();
    const font = this.fonts.regular;
    pages.forEach((page, index) => {
      const label = `page ${index + 1} of ${pages.length}`;
      const name = wrap(title, font, 8, TEXT_WIDTH - font.widthOfTextAtSize(label, 8) - 20)[0] ?? '';
      page.drawText(name, { x: MARGIN, y: MARGIN / 2, size: 8, font });
      page.drawText(label, { x: A4[0] - MARGIN - font.widthOfTextAtSize(label, 8), y: MARGIN / 2, size: 8, font });
    });
  }

  /** starts a new page unless `height` points are left on this one */
  private room(height: number): void {
    if (this.y - height < MARGIN) this.newPage();
  }

  /** the baseline of the next line of text, on a new page when this one is full */
  private nextLine(size: number): number {
    this.room(lineHeight(size));
    this.y -= lineHeight(size);
    return this.y;
  }

  private newPage(): void {
    this.page = this.pdf.addPage(A4);
    this.y = A4[1] - MARGIN;
    this.onNewPage?.();
  }
}

/**
 * The lines of one paragraph at most `width` wide; a word longer than a line (a URL, an IBAN, a pasted blob) is
 * cut, as many characters on each line as fit. Widths add up per character, each measured once per font and
 * size: a line is as wide as the glyphs pdf-lib draws (it does not kern), and the time grows with the text's
 * length. Measuring every candidate string instead cost a 2,000-character word 0.8 s and an 8,000-character
 * one 47 s: an HTML mail with one long line held the intake's event loop for minutes.
 */
export function wrap(paragraph: string, font: PDFFont, size: number, width: number): string[] {
  if (paragraph === '') return [''];
  const widthOf = charWidths(font, size);
  const measure = (text: string) => {
    let total = 0;
    for (let i = 0; i < text.length; i++) total += widthOf(text[i]);
    return total;
  };
  const lines: string[] = [];
  let current = '';
  let currentWidth = 0;
  for (const word of paragraph.split(/(\s+)/)) {
    const wordWidth = measure(word);
    if (currentWidth + wordWidth <= width) {
      current += word;
      currentWidth += wordWidth;
      continue;
    }
    if (current.trim()) lines.push(current.trimEnd());
    current = word.trimStart();
    currentWidth = measure(current);
    while (currentWidth > width) {
      let cut = 0;
      let cutWidth = 0;
      // at least one character a line, however narrow the column
      while (cut < current.length && (cut === 0 || cutWidth + widthOf(current[cut]) <= width))
        cutWidth += widthOf(current[cut++]);
      lines.push(current.slice(0, cut));
      current = current.slice(cut);
      currentWidth -= cutWidth;
    }
  }
  if (current.trim()) lines.push(current.trimEnd());
  return lines;
}

/** The width of one character in `font` at `size`, measured on first use (text here is WinAnsi: a few hundred). */
function charWidths(font: PDFFont, size: number): (char: string) => number {
  let bySize = measuredChars.get(font);
  if (!bySize) measuredChars.set(font, (bySize = new Map()));
  let widths = bySize.get(size);
  if (!widths) bySize.set(size, (widths = new Map()));
  const known = widths;
  return (char) => {
    let found = known.get(char);
    if (found === undefined) known.set(char, (found = font.widthOfTextAtSize(char, size)));
    return found;
  };
}

const measuredChars = new WeakMap<PDFFont, Map<number, Map<string, number>>>();
