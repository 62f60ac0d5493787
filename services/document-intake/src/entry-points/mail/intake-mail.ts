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

/** An HTML mail without attachments as a PDF of its text: subject, sender and date, then the HTML body's text. */
const htmlMailPdf = (mail: ParsedMail, sender: string) =>
  writeTextPdf(mail.subject ?? 'E-mail', [
    { text: mail.subject ?? 'E-mail', bold: true, size: 14 },
    {
      text: `From ${mail.from?.text ?? sender}${mail.date ? `, ${mail.date.toISOString().slice(0, 10)}` : ''}`,
      gap: 4,
    },
    // from the HTML itself: the text mailparser derives from it runs table cells together ("Brood12,00")
    { text: htmlToText(mail.html || ''), gap: 12 },
  ]);

/** The readable text of an HTML body: block elements become line breaks, tags and scripts go. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(script|style|head)[\s\S]*?<\/\1>/gi, '')
    .replace(/<br\s*\/?>/gi, '\n')
    .replace(/<\/(p|div|tr|h[1-6]|li|table)>/gi, '\n')
    .replace(/<\/t[dh]>/gi, '\t')
    .replace(/<[^>]+>/g, '')
    .replace(/&nbsp;/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCharCode(Number(code)))
    .replace(/[ \t]+\n/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}
