/**
 * What the intake does with a mail, however it arrived (the SMTP endpoint, or a polled IMAP mailbox): read it up
 * to the size limit, then store every attachment for every recipient, all at once or not at all.
 */
import { PassThrough, Readable } from 'node:stream';
import type { ParsedMail } from 'mailparser';
import type { Queryable } from '@kantoor/database';
import { writeTextPdf } from '@kantoor/e-invoice';
import { invalidArgument, isDomainError, type DomainError } from '@kantoor/errors';
import type { IntakeAddress } from '../../adapters/directory';
import {
  checkDocument,
  commitDocuments,
  discardDocuments,
  type CheckedDocument,
  type Incoming,
  type IntakeStore,
} from '../../domain/receive-document';

/**
 * The message as the parser reads it, up to `maxBytes`: past that the parser gets an error (552) and reads no
 * more, so an oversized message is never held in memory, while the rest of it is read and dropped so that the
 * connection it comes over (the SMTP dialogue, an IMAP download) goes on.
 */
export function messageUpTo(message: Readable, maxBytes: number): Readable {
  const limited = new PassThrough();
  let bytes = 0;
  const drop = () => message.resume();
  // a parser that stops reading (its own error) must not leave the message paused and the connection hanging
  limited.on('close', drop);
  message.on('data', (chunk: Buffer) => {
    if (limited.destroyed) return;
    bytes += chunk.length;
    if (bytes > maxBytes) {
      limited.destroy(
        Object.assign(new Error(`Message exceeds the maximum size of ${maxBytes} bytes`), { responseCode: 552 }),
      );
      return;
    }
    if (!limited.write(chunk)) {
      message.pause();
      limited.once('drain', drop);
    }
  });
  message.on('end', () => {
    if (!limited.destroyed) limited.end();
  });
  message.on('error', (error) => limited.destroy(error));
  return limited;
}

/**
 * Every attachment of the mail for every recipient is checked and stored, and then all of them become documents
 * in one transaction, with the refusals: a failure on the way (the sender is asked to retry) leaves nothing
 * stored, so the retry does not double what came before it. With `claim`, the mail is stored only when the claim,
 * made in the same transaction first, says it was not stored before ('already-stored' otherwise, and nothing kept).
 */
export async function storeMail(
  intake: IntakeStore,
  recipients: IntakeAddress[],
  sender: string,
  mail: ParsedMail,
  options: { claim?: (tx: Queryable) => Promise<boolean> } = {},
): Promise<'stored' | 'already-stored'> {
  const checked: CheckedDocument[] = [];
  const refusals: Array<{ incoming: Incoming; error: DomainError }> = [];
  const take = async (incoming: Incoming, content: Buffer | Uint8Array) => {
    try {
      checked.push(
        await checkDocument(
          intake,
          incoming,
          (async function* () {
            // the attachment's type is the sending mail program's guess, often a generic one: no claim
            yield { bytes: Readable.from([Buffer.from(content)]), contentType: '' };
          })(),
        ),
      );
    } catch (error) {
      if (!isDomainError(error) || error.kind !== 'invalid_argument') throw error;
      refusals.push({ incoming, error });
    }
  };
  try {
    for (const recipient of recipients) {
      const whitelisted = recipient.whitelist.find((entry) => entry.email === sender);
      const incoming = (fileName: string): Incoming => ({
        firmId: recipient.firmId,
        dossierId: recipient.dossierId,
        mailbox: recipient.mailbox,
        fileName,
        channel: 'email',
        actor: { kind: 'email', id: sender || 'unknown-sender' },
        senderEmail: sender,
        // an unsorted document cannot go to the accountant before the client picks its mailbox
        autoSend: Boolean(whitelisted?.autoSend) && recipient.mailbox !== null,
      });
      const files = mail.attachments.filter(
        (attachment) => attachment.contentDisposition !== 'inline' || !attachment.related,
      );
      for (const [index, attachment] of files.entries())
        await take(incoming(attachment.filename || `attachment-${index + 1}`), attachment.content);
      if (files.length > 0) continue;
      if (mail.html) {
        await take(incoming(`${mail.subject || 'E-mail'}.pdf`), await htmlMailPdf(mail, sender));
      } else {
        const subject = mail.subject || '(no subject)';
        refusals.push({
          incoming: incoming(subject),
          error: invalidArgument(
            `The e-mail "${subject}" has no attachment and no HTML body; there is no document in it.`,
            { reason: 'no_attachment' },
          ),
        });
      }
    }
    const committed = await commitDocuments(intake, checked, refusals, options);
    if (committed) return 'stored';
    await discardDocuments(intake, checked);
    return 'already-stored';
  } catch (error) {
    await discardDocuments(intake, checked);
    throw error;
  }
}

/**
 * The most of an HTML mail's text its PDF shows: about 250 pages, far beyond any invoice. Laying out text takes
 * the intake's thread about 0.7 s a million characters, and a mail may hold 50 MB.
 */
export const MAIL_TEXT_MAX_CHARS = 1_000_000;

/** An HTML mail without attachments as a PDF of its text: subject, sender and date, then the HTML body's text. */
function htmlMailPdf(mail: ParsedMail, sender: string) {
  // from the HTML itself: the text mailparser derives from it runs table cells together ("Brood12,00")
  const text = htmlToText(mail.html || '');
  const shown = text.length > MAIL_TEXT_MAX_CHARS ? text.slice(0, MAIL_TEXT_MAX_CHARS) : text;
  return writeTextPdf(mail.subject ?? 'E-mail', [
    { text: mail.subject ?? 'E-mail', bold: true, size: 14 },
    {
      text: `From ${mail.from?.text ?? sender}${mail.date ? `, ${mail.date.toISOString().slice(0, 10)}` : ''}`,
      gap: 4,
    },
    { text: shown, gap: 12 },
    ...(shown === text
      ? []
      : [
          {
            text: `[This PDF shows the first ${MAIL_TEXT_MAX_CHARS.toLocaleString('en')} characters of the e-mail's text; the other ${(text.length - shown.length).toLocaleString('en')} are not shown.]`,
            bold: true,
            gap: 12,
          },
        ]),
  ]);
}

/**
 * The readable text of an HTML body: block elements become line breaks, tags, scripts and styles go. Every step
 * takes time in proportion to the body's length, whatever is in it: a mail comes from anyone who knows an intake
 * address, and patterns that retry from each position (a run of spaces before a line break, a tag that never
 * closes, a script without its end) took seconds for 100 KB and hours for the megabytes a mail may hold.
 */
export function htmlToText(html: string): string {
  return (
    withoutHiddenElements(html)
      .replace(/<br\s*\/?>/gi, '\n')
      .replace(/<\/(p|div|tr|h[1-6]|li|table)>/gi, '\n')
      .replace(/<\/t[dh]>/gi, '\t')
      // a tag ends at the next ">", or it was no tag: a "<" that another "<" follows before any ">" stays text
      .replace(/<[^<>]+>/g, '')
      .replace(/&nbsp;/g, ' ')
      .replace(/&amp;/g, '&')
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#(\d{1,7});/g, (_m, code: string) => fromCodePoint(Number(code)))
      .split('\n')
      .map((line) => line.trimEnd())
      .join('\n')
      .replace(/\n{3,}/g, '\n\n')
      .trim()
  );
}

/** A numeric character reference's character; one that names none (beyond U+10FFFF, a lone surrogate) is dropped. */
const fromCodePoint = (code: number) =>
  code <= 0x10ffff && (code < 0xd800 || code > 0xdfff) ? String.fromCodePoint(code) : '';

/**
 * The HTML without its script, style and head elements, content and all. One that is never closed runs to the
 * end, as a browser reads it; each search goes on from where the last one ended.
 */
function withoutHiddenElements(html: string): string {
  const opening = /<(script|style|head)\b/gi;
  const kept: string[] = [];
  let from = 0;
  for (let found = opening.exec(html); found; found = opening.exec(html)) {
    kept.push(html.slice(from, found.index));
    const closing = new RegExp(`</${found[1]}\\s*>`, 'gi');
    closing.lastIndex = opening.lastIndex;
    if (!closing.exec(html)) return kept.join('');
    from = opening.lastIndex = closing.lastIndex;
  }
  kept.push(html.slice(from));
  return kept.join('');
}
