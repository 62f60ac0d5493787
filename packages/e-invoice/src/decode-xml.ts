import { invalidArgument } from '@kantoor/errors';

type Decoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'latin1' | 'iso-8859-15' | 'windows-1252' | 'ascii';

/** The encodings an XML declaration may name, by lower-case label. Anything else is refused. */
const DECODINGS: Record<string, Decoding> = {
  'utf-8': 'utf-8',
  utf8: 'utf-8',
  'iso-8859-1': 'latin1',
  'iso_8859-1': 'latin1',
  'iso8859-1': 'latin1',
  'latin-1': 'latin1',
  latin1: 'latin1',
  l1: 'latin1',
  'iso-8859-15': 'iso-8859-15',
  'iso_8859-15': 'iso-8859-15',
  'latin-9': 'iso-8859-15',
  'windows-1252': 'windows-1252',
  cp1252: 'windows-1252',
  'us-ascii': 'ascii',
  ascii: 'ascii',
};

const UTF16_LABELS = new Set(['utf-16', 'utf-16le', 'utf-16be', 'ucs-2', 'iso-10646-ucs-2']);

const SUPPORTED = 'UTF-8, UTF-16, ISO-8859-1, ISO-8859-15, Windows-1252 or US-ASCII';

const refuse = (reason: string, message: string) => invalidArgument(message, { reason });

/**
 * Decodes the bytes of an XML file as the file says it is encoded (XML 1.0 §4.3.3 and appendix F): a byte
 * order mark first, then the encoding named in the XML declaration, UTF-8 when it names none. Bytes that are
 * not valid in that encoding and encodings this reader does not know are refused rather than guessed at.
 */
export function decodeXml(bytes: Uint8Array): string {
  const sniffed = utf16Of(bytes);
  if (sniffed) return decode(bytes, sniffed, 'UTF-16');
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return decode(bytes, 'utf-8', 'UTF-8');
  const declared = declaredEncoding(bytes);
  if (declared === undefined) return decode(bytes, 'utf-8', 'UTF-8');
  const label = declared.toLowerCase();
  // A file that says UTF-16 but whose declaration reads as single bytes cannot be UTF-16. .NET writers that
  // serialise through a StringWriter produce exactly this (UTF-8 bytes, encoding="utf-16"): read it as UTF-8.
  if (UTF16_LABELS.has(label)) return decode(bytes, 'utf-8', 'UTF-8');
  const decoding = DECODINGS[label];
  if (!decoding) {
    throw refuse(
      'ubl_unsupported_encoding',
      `The XML file is encoded in ${declared}, which is not supported (use ${SUPPORTED}).`,
    );
  }
  return decode(bytes, decoding, declared);
}

/** UTF-16 by its byte order mark, or without one by the "<?" that every declaration starts with. */
function utf16Of(bytes: Uint8Array): 'utf-16le' | 'utf-16be' | undefined {
  const [b0, b1, b2, b3] = bytes;
  if ((b0 === 0xff && b1 === 0xfe) || (b0 === 0x3c && b1 === 0 && b2 === 0x3f && b3 === 0)) return 'utf-16le';
  if ((b0 === 0xfe && b1 === 0xff) || (b0 === 0 && b1 === 0x3c && b2 === 0 && b3 === 0x3f)) return 'utf-16be';
  return undefined;
}

function declaredEncoding(bytes: Uint8Array): string | undefined {
  const head = Buffer.from(bytes.subarray(0, 256)).toString('latin1');
  const declaration = /^<\?xml\s[^>]*?\?>/.exec(head)?.[0];
  return declaration && /\sencoding\s*=\s*(["'])([A-Za-z][A-Za-z0-9._-]*)\1/.exec(declaration)?.[2];
}

function decode(bytes: Uint8Array, decoding: Decoding, name: string): string {
  // Buffer's latin1 is ISO-8859-1 exactly: every byte is its own code point.
  if (decoding === 'latin1') return Buffer.from(bytes).toString('latin1');
  if (decoding === 'windows-1252') return windows1252(bytes, name);
  if (decoding === 'ascii') {
    if (bytes.some((byte) => byte > 0x7f)) throw notValid(name);
    return Buffer.from(bytes).toString('latin1');
  }
  try {
    return new TextDecoder(decoding, { fatal: true }).decode(bytes);
  } catch {
    throw notValid(name);
  }
}

/**
 * Windows-1252 bytes 0x80 to 0x9F (0 where the code page leaves a byte undefined). Written out because Node 20's
 * TextDecoder decodes "windows-1252" as Latin-1, which turns the euro sign (0x80) into a control character.
 */
const WINDOWS_1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0, 0,
  0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
];

function windows1252(bytes: Uint8Array, name: string): string {
  let text = '';
  for (let start = 0; start < bytes.length;) {
    const high = bytes.subarray(start).findIndex((byte) => byte >= 0x80 && byte <= 0x9f);
    const end = high === -1 ? bytes.length : start + high;
    text += Buffer.from(bytes.subarray(start, end)).toString('latin1');
    if (end === bytes.length) break;
    const code = WINDOWS_1252_HIGH[bytes[end] - 0x80];
    if (code === 0) throw notValid(name);
    text += String.fromCharCode(code);
    start = end + 1;
  }
  return text;
}

const notValid = (name: string) =>
  refuse('ubl_bad_encoding', `The XML file is not valid ${name}: it has bytes that ${name} does not allow.`);
