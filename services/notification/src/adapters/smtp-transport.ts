/**
 * Talking SMTP: one pooled nodemailer transport per server configuration, so that a burst of mails reuses a
 * few connections instead of opening one per mail. A changed configuration gets a new pool; the old one
 * closes.
 */
import nodemailer, { type Transporter } from 'nodemailer';

export interface SmtpServer {
  host: string;
  port: number;
  tls: 'none' | 'starttls' | 'tls';
  username?: string;
  password?: string;
  /** identifies the configuration: a new key makes a new pool */
  key: string;
}

export interface OutgoingMail {
  from: { name: string; address: string };
  to: string;
  replyTo?: string;
  subject: string;
  html: string;
  text: string;
  /** with angle brackets */
  messageId: string;
  headers: Record<string, string>;
  inline?: Array<{ cid: string; content: Buffer; contentType: string; filename: string }>;
}

export interface MailSender {
  /** resolves with the server's answer once it accepted the mail; rejects with its refusal otherwise */
  send(server: SmtpServer, mail: OutgoingMail): Promise<{ response: string }>;
  close(): void;
}

export function smtpMailSender(options: { timeoutMs: number; maxConnections?: number }): MailSender {
  const pools = new Map<string, { key: string; transporter: Transporter }>();
  const poolFor = (server: SmtpServer): Transporter => {
    const identity = `${server.host}:${server.port}`;
    const existing = pools.get(identity);
    if (existing?.key === server.key) return existing.transporter;
    existing?.transporter.close();
    const transporter = nodemailer.createTransport({
      pool: true,
      maxConnections: options.maxConnections ?? 5,
      host: server.host,
      port: server.port,
      secure: server.tls === 'tls',
      requireTLS: server.tls === 'starttls',
      auth: server.username ? { user: server.username, pass: server.password ?? '' } : undefined,
      connectionTimeout: options.timeoutMs,
      greetingTimeout: options.timeoutMs,
      socketTimeout: options.timeoutMs,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
    pools.set(identity, { key: server.key, transporter });
    return transporter;
  };
  return {
    async send(server, mail) {
      const info = await poolFor(server).sendMail({
        from: mail.from,
        to: mail.to,
        replyTo: mail.replyTo,
        subject: mail.subject,
        html: mail.html,
        text: mail.text,
        messageId: mail.messageId,
        headers: mail.headers,
        attachments: mail.inline?.map((part) => ({ ...part, contentDisposition: 'inline' as const })),
      });
      return { response: String(info.response ?? '') };
    },
    close() {
      for (const { transporter } of pools.values()) transporter.close();
      pools.clear();
    },
  };
}
