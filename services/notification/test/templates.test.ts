import { LANGUAGES, MESSAGE_KINDS, renderMail } from '../src';

const sample = {
  name: 'Els',
  email: 'els@firm.example',
  dossierName: 'Bakkerij <Wim>',
  activationUrl: 'https://kantoor.example/activate?token=abc',
  expiresAt: '2030-03-01T10:00:00Z',
  intakeAddresses: ['0123456789@in.firm.example'],
  subject: 'Vraag',
  body: 'Hallo',
  requestedName: 'Sofie',
  requestedEmail: 'sofie@b.example',
  downloadUrl: 'https://kantoor.example/d/xyz',
  documentCount: 12,
  runName: '2030-02',
  invoiceCount: 40,
  totalAmount: '1234567.89',
  currency: 'EUR',
  reason: 'Exact Online refused the token',
  problems: [
    { dossierName: 'Bakkerij Wim', description: 'invoice 12 has no VAT code' },
    { dossierName: 'Garage Jan', description: 'unknown supplier' },
  ],
  backupTakenAt: '2030-01-31T23:00:00Z',
};

describe('mail templates', () => {
  test.each(MESSAGE_KINDS.flatMap((kind) => LANGUAGES.map((language) => [kind, language] as const)))(
    '%s in %s has a subject, an HTML and a text part',
    (kind, language) => {
      const mail = renderMail(kind, language, sample, { name: 'Peeters & Co' });
      expect(mail.subject.length).toBeGreaterThan(5);
      expect(`${mail.subject}${mail.text}${mail.html}`).not.toMatch(/undefined|NaN|\[object/);
      expect(mail.html).toContain(`<html lang="${language}">`);
      expect(mail.html).toContain('Peeters &amp; Co');
      expect(mail.html).not.toContain('<Wim>');
      expect(mail.text).toContain('Peeters & Co');
    },
  );

  test('money is written exactly, in the language of the mail', () => {
    expect(renderMail('invoice_run_finished', 'nl', sample, { name: 'F' }).text).toMatch(/€\s1\.234\.567,89/);
    // beyond what a float holds exactly
    expect(
      renderMail('invoice_run_finished', 'fr', { ...sample, totalAmount: '12345678901234567.89' }, { name: 'F' }).text,
    ).toMatch(/12\s345\s678\s901\s234\s567,89\s€/);
    expect(renderMail('invoice_run_finished', 'en', { ...sample, totalAmount: '0.10' }, { name: 'F' }).text).toContain(
      '€0.10',
    );
  });

  test('synchronisation problems come as one digest listing every problem', () => {
    const mail = renderMail('sync_problems_digest', 'fr', sample, { name: 'F' });
    expect(mail.subject).toBe('2 problèmes de synchronisation avec le logiciel comptable');
    expect(mail.text).toContain('- Bakkerij Wim — invoice 12 has no VAT code\n- Garage Jan — unknown supplier');
  });

  test.each([
    [
      'nl',
      'Documenten van Bakkerij <Wim> (BW-7) klaar om te downloaden',
      '12 te verwerken documenten van Bakkerij <Wim> (BW-7)',
    ],
    ['fr', 'Documents de Bakkerij <Wim> (BW-7) prêts à télécharger', '12 documents à traiter de Bakkerij <Wim> (BW-7)'],
    ['en', 'Documents of Bakkerij <Wim> (BW-7) ready to download', '12 documents to process of Bakkerij <Wim> (BW-7)'],
  ] as const)('the download-link mail in %s names the dossier by name and code', (language, subject, line) => {
    const mail = renderMail('download_link', language, { ...sample, dossierCode: 'BW-7' }, { name: 'F' });
    expect(mail.subject).toBe(subject);
    expect(mail.text).toContain(line);
    expect(mail.html).toContain('Bakkerij &lt;Wim&gt; (BW-7)');
  });

  test('a link that is not a web link is never made clickable', () => {
    const mail = renderMail('download_link', 'en', { ...sample, downloadUrl: 'javascript:alert(1)' }, { name: 'F' });
    expect(mail.html).not.toContain('javascript:');
    expect(mail.text).not.toContain('javascript:');
  });
});
