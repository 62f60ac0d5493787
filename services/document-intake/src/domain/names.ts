/** Document names and the file names made from them. */

const RESERVED_WINDOWS = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;

/** The name a document gets from a file name: without its extension, trimmed, at most 200 characters. */
export function documentNameOf(fileName: string): string {
  const base = fileName
    .replace(/^.*[\\/]/, '')
    .replace(/\.[A-Za-z0-9]{1,5}$/, '')
    .trim();
  return (base || 'document').slice(0, 200);
}

/**
 * A file name safe on Windows, macOS and Linux: no path separators or characters Windows refuses, no control
 * characters, no trailing dots or spaces, no reserved device names, at most 150 characters before the extension.
 */
export function safeFileName(name: string, extension: string): string {
  let base = name
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f<>:"/\\|?*]/g, '_')
    .replace(/[. ]+$/g, '')
    .replace(/^[. ]+/g, '')
    .slice(0, 150);
  if (!base) base = 'document';
  if (RESERVED_WINDOWS.test(base.split('.')[0])) base = `_${base}`;
  return `${base}.${extension}`;
}

/** Makes names unique within one folder, case-insensitively (Windows and macOS folders ignore case). */
export class UniqueNames {
  private readonly taken = new Set<string>();

  claim(fileName: string): string {
    const dot = fileName.lastIndexOf('.');
    const base = dot > 0 ? fileName.slice(0, dot) : fileName;
    const extension = dot > 0 ? fileName.slice(dot) : '';
    let candidate = fileName;
    for (let index = 2; this.taken.has(candidate.toLowerCase()); index++) candidate = `${base} (${index})${extension}`;
    this.taken.add(candidate.toLowerCase());
    return candidate;
  }
}
