/**
 * E-mail intake: a real SMTP endpoint. Recipients are checked during the dialogue (unknown addresses get 550
 * at RCPT TO); every attachment becomes a document in the addressed mailbox (unsorted for the general address);
 * refused attachments are recorded with their reason, as is a mail with neither attachments nor HTML; an HTML
 * mail without attachments becomes a PDF of its text. The server answers 250 only after everything of the
 * message is stored, all at once, so a sender retries otherwise and nothing is stored twice.
 */
import { simpleParser } from 'mailparser';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';
import type { Logger } from '@kantoor/logging';
import type { Directory, IntakeAddress } from '../../adapters/directory';
import type { IntakeStore } from '../../domain/receive-document';
import { messageUpTo, storeMail } from '../mail/intake-mail';

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
        const mail = await simpleParser(messageUpTo(stream, intake.maxFileBytes));
        const state = session as unknown as Session;
        const sender = state.envelope.mailFrom ? state.envelope.mailFrom.address.toLowerCase() : '';
        await storeMail(intake, [...(state.resolved?.values() ?? [])], sender, mail);
      })().then(
        () => callback(),
        (error: Error & { responseCode?: number }) => {
          if (error.responseCode) logger.warn({ err: error }, 'mail refused');
          else logger.error({ err: error }, 'mail intake failed');
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
