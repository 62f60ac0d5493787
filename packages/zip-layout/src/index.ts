/**
 * The ZIP layout of spec 02, shared by every download of documents (intake, archive): one folder per mailbox
 * and kind (Aankoop-pdf/ Aankoop-ubl/ Verkoop-pdf/ ... Diverse-ubl/), only folders with files, and file names
 * that are unique per folder and safe on Windows, macOS and Linux.
 */
export type Mailbox = 'purchase' | 'sales' | 'misc';
export type DocumentKind = 'pdf' | 'ubl';

export const MAILBOX_FOLDERS: Readonly<Record<Mailbox, string>> = {
  purchase: 'Aankoop',
  sales: 'Verkoop',
  misc: 'Diverse',
};
export const MAILBOX_ORDER: readonly Mailbox[] = ['purchase', 'sales', 'misc'];

const RESERVED_WINDOWS = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/** `Aankoop-pdf`, `Verkoop-ubl` ... */
export const layoutFolder = (mailbox: Mailbox, kind: DocumentKind): string => `${MAILBOX_FOLDERS[mailbox]}-${kind}`;

/** Of a name: its leading and trailing dots and spaces (Windows drops trailing ones; leading ones hide a file). */
const trimDotsAndSpaces = (text: string) => text.replace(/^[. ]+/, '').replace(/(?<![. ])[. ]+$/, '');

/** The first characters of `text`, whole code points, at most `maxChars` of them and `maxBytes` UTF-8 bytes. */
function cut(text: string, maxChars: number, maxBytes: number): string {
  let kept = '';
  let chars = 0;
  let bytes = 0;
  for (const char of text) {
    bytes += Buffer.byteLength(char);
    if (++chars > maxChars || bytes > maxBytes) break;
    kept += char;
  }
  return kept;
}

/**
 * A file name safe on Windows, macOS and Linux: no path separators or characters Windows refuses, no control
 * characters, no leading or trailing dots or spaces, no reserved device names, at most 150 characters (and 200
 * UTF-8 bytes, as Linux allows 255 bytes a name and a ` (2)` may still be added) before the extension. The cut
 * comes before the last trim, so a name cut short does not end in a dot or space either.
 */
export function safeFileName(name: string, extension: string): string {
  let base = trimDotsAndSpaces(name.normalize('NFC').replace(/[\u0000-\u001f\u007f<>:"/\\|?*]/g, '_'));
  if (RESERVED_WINDOWS.test(base.split('.')[0])) base = `_${base}`;
  base = trimDotsAndSpaces(cut(base, 150, 200)) || 'document';
  return extension ? `${base}.${extension}` : base;
}

/** Makes names unique within one folder, case-insensitively (Windows and macOS folders ignore case). */
export class UniqueNames {
  private readonly taken = new Set<string>();
  /** Per name asked for (lower case): the number to try first for its next copy, so 20,000 files of one name
   * cost 20,000 steps, not 200 million. */
  private readonly nextIndex = new Map<string, number>();

  claim(fileName: string): string {
    const dot = fileName.lastIndexOf('.');
    const base = dot > 0 ? fileName.slice(0, dot) : fileName;
    const extension = dot > 0 ? fileName.slice(dot) : '';
    const key = fileName.toLowerCase();
    let candidate = fileName;
    let index = this.nextIndex.get(key) ?? 2;
    if (this.taken.has(key)) {
      while (this.taken.has(`${base} (${index})${extension}`.toLowerCase())) index++;
      candidate = `${base} (${index})${extension}`;
      index++;
    }
    this.nextIndex.set(key, index);
    this.taken.add(candidate.toLowerCase());
    return candidate;
  }
}

/** Unique, safe paths inside a ZIP, per folder; entries can be claimed one at a time while streaming. */
export class ZipPaths {
  private readonly folders = new Map<string, UniqueNames>();

  claim(folder: string, name: string, extension: string): string {
    let names = this.folders.get(folder);
    if (!names) this.folders.set(folder, (names = new UniqueNames()));
    return `${folder}/${names.claim(safeFileName(name, extension))}`;
  }
}

/**
 * The intake ZIP order: mailbox by mailbox, the PDF folder before the UBL folder; an item's place is its
 * folder, so items can be sorted with this before their paths are claimed.
 */
export function layoutRank(mailbox: Mailbox, kind: DocumentKind): number {
  return MAILBOX_ORDER.indexOf(mailbox) * 2 + (kind === 'pdf' ? 0 : 1);
}
export { storedZip, type StoredZipEntry, type StoredZipOptions } from './stored-zip';
