import nodemailer, { type SendMailOptions } from 'nodemailer';
import { startSmtpSink, type SmtpSink } from '@kantoor/smtp-sink';

describe('local SMTP sink', () => {
  let sink: SmtpSink;
  beforeEach(async () => {
    sink = await startSmtpSink({ limit: 3, maxMessageBytes: 64 * 1024 });
  });
  afterEach(() => sink.stop());

  const send = (mail: SendMailOptions) =>
    nodemailer.createTransport({ host: sink.host, port: sink.port, secure: false }).sendMail({
      from: 'Kantoor <no-reply@kantoor.localhost>',
      ...mail,
    });

  test('keeps a received mail with its envelope, headers, text, html and inline parts', async () => {
    const info = await send({
      to: 'els@firm.example',
      bcc: 'audit@firm.example',
      subject: 'Welkom bij Kantoor',
      text: 'Hallo Els',
      html: '<p>Hallo <b>Els</b></p><img src="cid:logo">',
      messageId: '<abc123@kantoor.localhost>',
      headers: { 'X-Kantoor-Firm': 'firm-1' },
      attachments: [{ filename: 'logo.png', content: Buffer.from('png'), cid: 'logo', contentType: 'image/png' }],
    });
    expect(info.response).toMatch(/^250 /);
    const [summary] = sink.messages();
    expect(summary).toMatchObject({
      messageId: 'abc123@kantoor.localhost',
      envelopeTo: ['els@firm.example', 'audit@firm.example'],
      to: ['els@firm.example'],
      from: 'no-reply@kantoor.localhost',
      subject: 'Welkom bij Kantoor',
    });
    expect(summary.headers['x-kantoor-firm']).toBe('firm-1');
    expect(summary).not.toHaveProperty('raw');
    const mail = sink.message(summary.id)!;
    expect(mail.text?.trim()).toBe('Hallo Els');
    expect(mail.html).toContain('<b>Els</b>');
    expect(mail.attachments).toEqual([{ filename: 'logo.png', contentType: 'image/png', size: 3, contentId: 'logo' }]);
    expect(mail.raw).toContain('Message-ID: <abc123@kantoor.localhost>');
    expect(sink.message('no-such-id')).toBeUndefined();
  });

  test('keeps only the newest mails up to its limit, newest first', async () => {
    for (const n of [1, 2, 3, 4]) await send({ to: 'a@b.example', subject: `mail ${n}`, text: 'x' });
    expect(sink.messages().map((mail) => mail.subject)).toEqual(['mail 4', 'mail 3', 'mail 2']);
    sink.clear();
    expect(sink.messages()).toEqual([]);
  });

  test('refuses a mail above the size limit and keeps nothing of it', async () => {
    await expect(send({ to: 'a@b.example', subject: 'big', text: 'x'.repeat(100 * 1024) })).rejects.toThrow(/552/);
    expect(sink.messages()).toEqual([]);
  });
});
