/**
 * E-mail intake: a real SMTP endpoint. Recipients are checked during the dialogue (unknown addresses get 550
 * at RCPT TO); every attachment becomes a document in the addressed mailbox (unsorted for the general address);
 * refused attachments are recorded with their reason; an HTML mail without attachments becomes a PDF of its
 * text. The server answers 250 only after everything of the message is stored, so a sender retries otherwise.
 */
import { Readable } from 'node:stream';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import { writeTextPdf } from '@kantoor/e-invoice';
import { isDomainError } from '@kantoor/errors';
import type { Logger } from '@kantoor/logging';
import type { Directory, IntakeAddress } from '../../adapters/directory';
import { recordRefusal, receiveDocument, type Incoming, type IntakeStore } from '../../domain/receive-document';

export interface IntakeSmtpOptions {
  intake: IntakeStore;
  directory: Directory;
  logger: Logger;
  knownFirms(): Promise<string[]>;
  host: string;
  port: number;
}

type Session = {
  envelope: { mailFrom: SMTPServerAddress | false; rcptTo: SMTPServerAddress[] };
  resolved?: Map<string, IntakeAddress>;
};

export async function startIntakeSmtp(options: IntakeSmtpOptions): Promise<{ port: number; stop(): Promise<void> }> {
  const { intake, directory, logger } = options;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: intake.maxFileBytes,
    logger: false,
    banner: 'Kantoor document intake',
    async onRcptTo(address, session, callback) {
      try {
        const resolved = await directory.resolveIntakeAddress(address.address, await options.knownFirms());
        if (!resolved) {
          return callback(
            Object.assign(new Error(`No dossier receives mail at <${address.address}>`), { responseCode: 550 }),
          );
        }
        const state = session as unknown as Session;
        state.resolved ??= new Map();
        state.resolved.set(address.address.toLowerCase(), resolved);
        callback();
      } catch (error) {
        logger.warn({ err: error }, 'intake address lookup failed');
        callback(Object.assign(new Error('Try again later'), { responseCode: 451 }));
      }
    },
    onData(stream, session, callback) {
      (async () => {
        const mail = await simpleParser(stream);
        if ((stream as unknown as { sizeExceeded?: boolean }).sizeExceeded) {
          throw Object.assign(new Error('Message too large'), { responseCode: 552 });
        }
        const state = session as unknown as Session;
        const sender = state.envelope.mailFrom ? state.envelope.mailFrom.address.toLowerCase() : '';
        for (const recipient of state.resolved?.values() ?? []) await storeMail(intake, recipient, sender, mail);
      })().then(
        () => callback(),
        (error: Error & { responseCode?: number }) => {
          logger.error({ err: error }, 'mail intake failed');
          callback(
            Object.assign(
              new Error(error.responseCode ? error.message : 'Could not store the message; try again later'),
              { responseCode: error.responseCode ?? 451 },
            ),
          );
        },
      );
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  server.on('error', (error) => logger.error({ err: error }, 'SMTP intake error'));
  const address = server.server.address();
  return {
    port: typeof address === 'object' && address ? address.port : options.port,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function storeMail(intake: IntakeStore, recipient: IntakeAddress, sender: string, mail: ParsedMail) {
  const whitelisted = recipient.whitelist.find((entry) => entry.email === sender);
  const base = (fileName: string): Incoming => ({
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
  if (files.length === 0 && mail.html) {
    const pdf = await writeTextPdf(mail.subject ?? 'E-mail', [
      { text: mail.subject ?? 'E-mail', bold: true, size: 14 },
      {
        text: `From ${mail.from?.text ?? sender}${mail.date ? `, ${mail.date.toISOString().slice(0, 10)}` : ''}`,
        gap: 4,
      },
      { text: mail.text ?? htmlToText(mail.html), gap: 12 },
    ]);
    await store(intake, base(`${mail.subject || 'E-mail'}.pdf`), pdf);
    return;
  }
  for (const [index, attachment] of files.entries()) {
    await store(intake, base(attachment.filename || `attachment-${index + 1}`), attachment.content);
  }
}

async function store(intake: IntakeStore, incoming: Incoming, content: Buffer | Uint8Array) {
  try {
    await receiveDocument(
      intake,
      incoming,
      (async function* () {
        yield Readable.from([Buffer.from(content)]);
      })(),
    );
  } catch (error) {
    if (!isDomainError(error) || error.kind !== 'invalid_argument') throw error;
    await recordRefusal(intake, incoming, error);
  }
}

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
