export type * from './model';
export { readUbl, pdfRendition, DEFAULT_MAX_UBL_BYTES, type ReadUblOptions } from './read-ubl';
export { renderInvoicePdf } from './render-invoice';
export {
  createUblThread,
  type UblReading,
  type UblReadOptions,
  type UblThread,
  type UblThreadOptions,
} from './ubl-thread';
export {
  writeTextPdf,
  winAnsi,
  type Block,
  type TableBlock,
  type TableColumn,
  type TableRow,
  type TextBlock,
  type TextPdfOptions,
} from './text-pdf';
