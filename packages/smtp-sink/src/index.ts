/**
 * Embedded mode's local SMTP sink: a real SMTP server on a loopback port that accepts every mail and keeps
 * the most recent ones in memory, so that a person (through the gateway) or a test can read what the
 * platform sent. It never relays anything anywhere.
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { simpleParser, type AddressObject } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export interface SmtpSinkOptions {
  /** default 127.0.0.1: the sink is for this machine only */
  host?: string;
  /** default 0: any free port */
  port?: number;
  /** mails kept; the oldest is forgotten when a new one arrives beyond this (default 1000) */
  limit?: number;
  /** largest accepted mail in bytes (default 10 MiB); bigger ones are refused with 552 */
  maxMessageBytes?: number;
}

export interface SinkAttachment {
  filename: string | null;
  contentType: string;
  size: number;
  /** set for inline parts (e.g. the firm's logo referred to as cid:...) */
  contentId: string | null;
}

/** What a list shows of one received mail. */
export interface SinkMessageSummary {
  /** the sink's own id, to fetch the whole mail */
  id: string;
  /** the Message-ID header, without angle brackets */
  messageId: string | null;
  /** the SMTP envelope: who sent it and to whom it was delivered */
  envelopeFrom: string | null;
  envelopeTo: string[];
  from: string | null;
  to: string[];
  subject: string;
  receivedAt: Date;
  size: number;
  /** every header as received (lower-case names), e.g. x-kantoor-firm */
  headers: Record<string, string>;
}

export interface SinkMessage extends SinkMessageSummary {
  text: string | null;
  html: string | null;
  attachments: SinkAttachment[];
  /** the mail exactly as it arrived */
  raw: string;
}

export interface SmtpSink {
  host: string;
  port: number;
  /** newest first */
  messages(): SinkMessageSummary[];
  message(id: string): SinkMessage | undefined;
  /** forgets every mail received so far */
  clear(): void;
  stop(): Promise<void>;
}

const addresses = (field: AddressObject | AddressObject[] | undefined): string[] =>
  (Array.isArray(field) ? field : field ? [field] : []).flatMap((group) =>
    group.value.map((entry) => entry.address ?? '').filter(Boolean),
  );

const headerText = (value: unknown): string => {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (value && typeof value === 'object' && 'text' in value) return String((value as { text: unknown }).text);
  if (value && typeof value === 'object' && 'value' in value) return String((value as { value: unknown }).value);
  return String(value);
};

export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const limit = options.limit ?? 1000;
  const maxBytes = options.maxMessageBytes ?? 10 * 1024 * 1024;
  const received: SinkMessage[] = [];

  const server = new SMTPServer({
    // a sink on loopback: no TLS certificate to manage, any login accepted so that firm settings with
    // credentials can be tried against it
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    onAuth: (_auth, _session, callback) => callback(null, { user: 'sink' }),
    size: maxBytes,
    logger: false,
    banner: 'Kantoor local SMTP sink',
    // stopping must not wait for the pooled connections of the platform's senders to go idle
    closeTimeout: 100,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      let size = 0;
      stream.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= maxBytes) chunks.push(chunk);
      });
      stream.on('error', callback);
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(Object.assign(new Error('message exceeds the fixed maximum message size'), { responseCode: 552 }));
          return;
        }
        const raw = Buffer.concat(chunks);
        // the sink shows the mail's own html part; mailparser's linkified copy of the text part is never used
        simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true }).then(
          (parsed) => {
            const id = randomUUID();
            const headers: Record<string, string> = {};
            for (const [name, value] of parsed.headers) headers[name] = headerText(value);
            received.unshift({
              id,
              messageId: parsed.messageId?.replace(/^<|>$/g, '') ?? null,
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : null,
              envelopeTo: session.envelope.rcptTo.map((recipient) => recipient.address),
              from: addresses(parsed.from)[0] ?? null,
              to: addresses(parsed.to),
              subject: parsed.subject ?? '',
              receivedAt: new Date(),
              size: raw.length,
              headers,
              text: parsed.text ?? null,
              html: typeof parsed.html === 'string' ? parsed.html : null,
              attachments: parsed.attachments.map((attachment) => ({
                filename: attachment.filename ?? null,
                contentType: attachment.contentType,
                size: attachment.size,
                contentId: attachment.contentId?.replace(/^<|>$/g, '') ?? null,
              })),
              raw: raw.toString('utf8'),
            });
            if (received.length > limit) received.length = limit;
            callback(null, `queued as ${id}`);
          },
          (error: Error) => callback(error),
        );
      });
    },
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // a client that misbehaves must not bring the process down
  server.on('error', () => undefined);
  const port = (server.server.address() as AddressInfo).port;

  const summary = ({ text: _text, html: _html, attachments: _attachments, raw: _raw, ...rest }: SinkMessage) => rest;
  return {
    host,
    port,
    messages: () => received.map(summary),
    message: (id) => received.find((message) => message.id === id),
    clear: () => {
      received.length = 0;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
