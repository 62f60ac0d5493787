import { PDFDocument, StandardFonts, type PDFFont, type PDFPage } from 'pdf-lib';

export interface TextBlock {
  text: string;
  bold?: boolean;
  size?: number;
  /** extra space before the block, in points */
  gap?: number;
  /** columns: the text is split on tabs and laid out at these x offsets (points from the left margin) */
  columns?: number[];
}

const A4: [number, number] = [595.28, 841.89];
const MARGIN = 50;

/**
 * A plain, readable A4 PDF from blocks of text: the rendition of an invoice without its own PDF and of an
 * HTML mail body. Standard fonts only (no font files to ship), so text outside WinAnsi becomes "?" rather
 * than failing the intake.
 */
export async function writeTextPdf(title: string, blocks: TextBlock[]): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  pdf.setTitle(winAnsi(title));
  pdf.setProducer('Kantoor');
  const fonts = {
    regular: await pdf.embedFont(StandardFonts.Helvetica),
    bold: await pdf.embedFont(StandardFonts.HelveticaBold),
  };
  let page: PDFPage = pdf.addPage(A4);
  let y = A4[1] - MARGIN;
  const width = A4[0] - 2 * MARGIN;
  const newLineHeight = (size: number) => {
    if (y - size * 1.3 < MARGIN) {
      page = pdf.addPage(A4);
      y = A4[1] - MARGIN;
    }
    y -= size * 1.3;
  };
  for (const block of blocks) {
    const size = block.size ?? 10;
    const font = block.bold ? fonts.bold : fonts.regular;
    y -= block.gap ?? 0;
    if (block.columns) {
      newLineHeight(size);
      const cells = block.text.split('\t');
      block.columns.forEach((x, index) => {
        const limit = (block.columns![index + 1] ?? width) - x - 4;
        const cell = fit(winAnsi(cells[index] ?? ''), font, size, limit);
        page.drawText(cell, { x: MARGIN + x, y, size, font });
      });
      continue;
    }
    for (const paragraph of winAnsi(block.text).split('\n')) {
      for (const line of wrap(paragraph, font, size, width)) {
        newLineHeight(size);
        page.drawText(line, { x: MARGIN, y, size, font });
      }
    }
  }
  return pdf.save();
}

/** Replaces what the standard fonts cannot encode (WinAnsi) so that any name or mail body renders. */
export function winAnsi(value: string): string {
  return value
    .replace(/\r/g, '')
    .replace(/\t/g, '    ')
    .replace(/[\u2018\u2019]/g, "'")
    .replace(/[\u201C\u201D]/g, '"')
    .replace(/[\u2013\u2014]/g, '-')
    .replace(/[^\n\x20-\x7E\xA0-\xFF€]/g, '?');
}

function fit(text: string, font: PDFFont, size: number, width: number): string {
  if (font.widthOfTextAtSize(text, size) <= width) return text;
  let cut = text;
  while (cut.length > 1 && font.widthOfTextAtSize(`${cut}…`.replace('…', '...'), size) > width) cut = cut.slice(0, -1);
  return `${cut}...`;
}

function wrap(paragraph: string, font: PDFFont, size: number, width: number): string[] {
  if (paragraph === '') return [''];
  const lines: string[] = [];
  let current = '';
  for (const word of paragraph.split(/(\s+)/)) {
    const candidate = current + word;
    if (font.widthOfTextAtSize(candidate, size) <= width) {
      current = candidate;
      continue;
    }
    if (current.trim()) lines.push(current.trimEnd());
    current = word.trimStart();
    // a single word wider than the page (a URL) is cut hard
    while (font.widthOfTextAtSize(current, size) > width) {
      let cut = current.length - 1;
      while (cut > 1 && font.widthOfTextAtSize(current.slice(0, cut), size) > width) cut--;
      lines.push(current.slice(0, cut));
      current = current.slice(cut);
    }
  }
  if (current.trim()) lines.push(current.trimEnd());
  return lines;
}
