/**
 * The mails' words, per message kind and language, and one layout that carries the firm's name and logo.
 * Every mail has an HTML part and an equivalent plain-text part; every value from outside is escaped.
 */
import { invalidArgument } from '@kantoor/errors';
import type { Language, MessageKind } from './message-kinds';

export type Block =
  | { p: string }
  | { button: { label: string; url: string } }
  | { list: string[] }
  | { quote: string }
  | { fields: Array<[string, string]> };

/** What a template knows besides the mail's own data: whose mail it is and how to write dates and money. */
export interface Firm {
  name: string;
  /** the inline logo's content id when the firm has a logo */
  logoCid?: string;
}

export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
}

type Data = Record<string, unknown>;
type Template = (data: Data, firm: string, format: Formats) => { subject: string; blocks: Block[] };

interface Formats {
  date(value: unknown): string;
  money(amount: unknown, currency: unknown): string;
}

const LOCALES: Record<Language, string> = { nl: 'nl-BE', fr: 'fr-BE', en: 'en-GB' };

// Building an Intl formatter costs far more than using one: they are made once per language (and currency).
const FORMATS = new Map<Language, Formats>();

function formatsFor(language: Language): Formats {
  const known = FORMATS.get(language);
  if (known) return known;
  const dates = new Intl.DateTimeFormat(LOCALES[language], {
    dateStyle: 'long',
    timeStyle: 'short',
    timeZone: 'Europe/Brussels',
  });
  const currencies = new Map<string, Intl.NumberFormat>();
  const formats: Formats = {
    date: (value) => (value ? dates.format(new Date(String(value))) : ''),
    // amounts travel as decimal strings; Intl formats such a string exactly, without a detour through floats
    money: (amount, currency) => {
      const code = String(currency || 'EUR');
      let money = currencies.get(code);
      if (!money) {
        money = new Intl.NumberFormat(LOCALES[language], { style: 'currency', currency: code });
        currencies.set(code, money);
      }
      return money.format(String(amount ?? '0') as `${number}`);
    },
  };
  FORMATS.set(language, formats);
  return formats;
}

const text = (data: Data, field: string): string => {
  const value = data[field];
  return value === undefined || value === null ? '' : String(value);
};
const list = (data: Data, field: string): string[] =>
  Array.isArray(data[field]) ? (data[field] as unknown[]).map(String) : [];
const problems = (data: Data): string[] =>
  (Array.isArray(data.problems) ? (data.problems as Data[]) : []).map((problem) =>
    [text(problem, 'dossierName'), text(problem, 'description')].filter(Boolean).join(' — '),
  );
/** `Bakkerij Janssens (0123456789)`: staff tell dossiers apart by their code, as names may repeat in a firm */
const dossier = (data: Data): string =>
  [text(data, 'dossierName'), data.dossierCode ? `(${text(data, 'dossierCode')})` : ''].filter(Boolean).join(' ');
const optional = (condition: unknown, ...blocks: Block[]): Block[] => (condition ? blocks : []);

const TEMPLATES: Record<MessageKind, Record<Language, Template>> = {
  staff_activation: {
    nl: (d, firm, f) => ({
      subject: `Activeer uw account bij ${firm}`,
      blocks: [
        { p: `Beste ${text(d, 'name')},` },
        { p: `${firm} heeft een account voor u aangemaakt op Kantoor. Uw login is ${text(d, 'email')}.` },
        { button: { label: 'Account activeren', url: text(d, 'activationUrl') } },
        {
          p: `Deze link is geldig tot ${f.date(d.expiresAt)}. Daarna kan een beheerder van ${firm} u een nieuwe uitnodiging sturen.`,
        },
      ],
    }),
    fr: (d, firm, f) => ({
      subject: `Activez votre compte chez ${firm}`,
      blocks: [
        { p: `Bonjour ${text(d, 'name')},` },
        { p: `${firm} a créé un compte pour vous sur Kantoor. Votre identifiant est ${text(d, 'email')}.` },
        { button: { label: 'Activer le compte', url: text(d, 'activationUrl') } },
        {
          p: `Ce lien est valable jusqu'au ${f.date(d.expiresAt)}. Ensuite, un administrateur de ${firm} peut vous envoyer une nouvelle invitation.`,
        },
      ],
    }),
    en: (d, firm, f) => ({
      subject: `Activate your account at ${firm}`,
      blocks: [
        { p: `Dear ${text(d, 'name')},` },
        { p: `${firm} created an account for you on Kantoor. Your login is ${text(d, 'email')}.` },
        { button: { label: 'Activate account', url: text(d, 'activationUrl') } },
        {
          p: `This link is valid until ${f.date(d.expiresAt)}. After that, an administrator of ${firm} can send you a new invitation.`,
        },
      ],
    }),
  },
  portal_user_activation: {
    nl: (d, firm, f) => ({
      subject: `Uw toegang tot het klantenportaal van ${firm}`,
      blocks: [
        { p: `Beste ${text(d, 'name')},` },
        {
          p: `${firm} heeft u toegang gegeven tot het klantenportaal voor ${text(d, 'dossierName')}. Uw login is ${text(d, 'email')}.`,
        },
        { button: { label: 'Account activeren', url: text(d, 'activationUrl') } },
        { p: 'Bij de eerste aanmelding aanvaardt u de gebruiksvoorwaarden en kiest u uw wachtwoord.' },
        ...optional(
          list(d, 'intakeAddresses').length,
          { p: 'Documenten kunt u ook per e-mail bezorgen, als bijlage aan een van deze adressen:' },
          { list: list(d, 'intakeAddresses') },
        ),
        { p: `Deze link is geldig tot ${f.date(d.expiresAt)}.` },
      ],
    }),
    fr: (d, firm, f) => ({
      subject: `Votre accès au portail client de ${firm}`,
      blocks: [
        { p: `Bonjour ${text(d, 'name')},` },
        {
          p: `${firm} vous a donné accès au portail client pour ${text(d, 'dossierName')}. Votre identifiant est ${text(d, 'email')}.`,
        },
        { button: { label: 'Activer le compte', url: text(d, 'activationUrl') } },
        {
          p: "Lors de la première connexion, vous acceptez les conditions d'utilisation et choisissez votre mot de passe.",
        },
        ...optional(
          list(d, 'intakeAddresses').length,
          { p: "Vous pouvez aussi envoyer vos documents par e-mail, en pièce jointe, à l'une de ces adresses :" },
          { list: list(d, 'intakeAddresses') },
        ),
        { p: `Ce lien est valable jusqu'au ${f.date(d.expiresAt)}.` },
      ],
    }),
    en: (d, firm, f) => ({
      subject: `Your access to the client portal of ${firm}`,
      blocks: [
        { p: `Dear ${text(d, 'name')},` },
        {
          p: `${firm} gave you access to the client portal for ${text(d, 'dossierName')}. Your login is ${text(d, 'email')}.`,
        },
        { button: { label: 'Activate account', url: text(d, 'activationUrl') } },
        { p: 'When you first log in, you accept the terms of use and choose your password.' },
        ...optional(
          list(d, 'intakeAddresses').length,
          { p: 'You can also send documents by e-mail, as attachments, to one of these addresses:' },
          { list: list(d, 'intakeAddresses') },
        ),
        { p: `This link is valid until ${f.date(d.expiresAt)}.` },
      ],
    }),
  },
  portal_user_access_extended: {
    nl: (d, firm) => ({
      subject: `Toegang tot ${text(d, 'dossierName')} in het klantenportaal`,
      blocks: [
        { p: `Beste ${text(d, 'name')},` },
        {
          p: `U hebt nu ook toegang tot ${text(d, 'dossierName')} in het klantenportaal van ${firm}. Meld u aan met uw bestaande login (${text(d, 'email')}).`,
        },
        ...optional(
          list(d, 'intakeAddresses').length,
          { p: 'Documenten voor dit dossier kunt u ook per e-mail bezorgen aan:' },
          { list: list(d, 'intakeAddresses') },
        ),
        ...optional(d.loginUrl, { button: { label: 'Naar het klantenportaal', url: text(d, 'loginUrl') } }),
      ],
    }),
    fr: (d, firm) => ({
      subject: `Accès à ${text(d, 'dossierName')} dans le portail client`,
      blocks: [
        { p: `Bonjour ${text(d, 'name')},` },
        {
          p: `Vous avez maintenant aussi accès à ${text(d, 'dossierName')} dans le portail client de ${firm}. Connectez-vous avec votre identifiant habituel (${text(d, 'email')}).`,
        },
        ...optional(
          list(d, 'intakeAddresses').length,
          { p: 'Vous pouvez aussi envoyer les documents de ce dossier par e-mail à :' },
          { list: list(d, 'intakeAddresses') },
        ),
        ...optional(d.loginUrl, { button: { label: 'Vers le portail client', url: text(d, 'loginUrl') } }),
      ],
    }),
    en: (d, firm) => ({
      subject: `Access to ${text(d, 'dossierName')} in the client portal`,
      blocks: [
        { p: `Dear ${text(d, 'name')},` },
        {
          p: `You now also have access to ${text(d, 'dossierName')} in the client portal of ${firm}. Log in with your existing login (${text(d, 'email')}).`,
        },
        ...optional(
          list(d, 'intakeAddresses').length,
          { p: 'You can also send documents for this dossier by e-mail to:' },
          { list: list(d, 'intakeAddresses') },
        ),
        ...optional(d.loginUrl, { button: { label: 'Go to the client portal', url: text(d, 'loginUrl') } }),
      ],
    }),
  },
  client_message: {
    nl: (d) => ({
      subject: `Bericht van ${text(d, 'dossierName')}: ${text(d, 'subject')}`,
      blocks: [
        { p: `Uw klant ${text(d, 'dossierName')} stuurde een bericht via het klantenportaal:` },
        { quote: text(d, 'body') },
        ...optional(d.replyTo, { p: 'U kunt rechtstreeks op deze e-mail antwoorden.' }),
      ],
    }),
    fr: (d) => ({
      subject: `Message de ${text(d, 'dossierName')} : ${text(d, 'subject')}`,
      blocks: [
        { p: `Votre client ${text(d, 'dossierName')} a envoyé un message via le portail client :` },
        { quote: text(d, 'body') },
        ...optional(d.replyTo, { p: 'Vous pouvez répondre directement à cet e-mail.' }),
      ],
    }),
    en: (d) => ({
      subject: `Message from ${text(d, 'dossierName')}: ${text(d, 'subject')}`,
      blocks: [
        { p: `Your client ${text(d, 'dossierName')} sent a message through the client portal:` },
        { quote: text(d, 'body') },
        ...optional(d.replyTo, { p: 'You can reply to this e-mail directly.' }),
      ],
    }),
  },
  vat_declaration_complete: {
    // the Dutch sentence is the one users know from the seed, word for word
    nl: (d) => ({
      subject: `BTW-aangifte: alle documenten ingediend voor ${text(d, 'dossierName')}`,
      blocks: [
        {
          p: 'Uw klant meldt dat alle documenten mbt de lopende BTW-periode werden ingediend voor het betreffende dossier.',
        },
        { fields: [['Dossier', text(d, 'dossierName')]] },
      ],
    }),
    fr: (d) => ({
      subject: `Déclaration TVA : tous les documents déposés pour ${text(d, 'dossierName')}`,
      blocks: [
        {
          p: 'Votre client signale que tous les documents relatifs à la période TVA en cours ont été déposés pour ce dossier.',
        },
        { fields: [['Dossier', text(d, 'dossierName')]] },
      ],
    }),
    en: (d) => ({
      subject: `VAT return: all documents submitted for ${text(d, 'dossierName')}`,
      blocks: [
        {
          p: 'Your client reports that all documents for the current VAT period have been submitted for this dossier.',
        },
        { fields: [['Dossier', text(d, 'dossierName')]] },
      ],
    }),
  },
  additional_user_request: {
    nl: (d) => ({
      subject: `Aanvraag voor een bijkomende gebruiker voor ${text(d, 'dossierName')}`,
      blocks: [
        {
          p: `Uw klant ${text(d, 'dossierName')} vraagt toegang tot het klantenportaal voor een bijkomende gebruiker:`,
        },
        {
          fields: [
            ['Naam', text(d, 'requestedName')],
            ['E-mail', text(d, 'requestedEmail')],
            ['Opmerking', text(d, 'note')],
          ],
        },
        { p: 'U kunt deze gebruiker toevoegen in de dossierinstellingen.' },
      ],
    }),
    fr: (d) => ({
      subject: `Demande d'un utilisateur supplémentaire pour ${text(d, 'dossierName')}`,
      blocks: [
        {
          p: `Votre client ${text(d, 'dossierName')} demande l'accès au portail client pour un utilisateur supplémentaire :`,
        },
        {
          fields: [
            ['Nom', text(d, 'requestedName')],
            ['E-mail', text(d, 'requestedEmail')],
            ['Remarque', text(d, 'note')],
          ],
        },
        { p: 'Vous pouvez ajouter cet utilisateur dans les paramètres du dossier.' },
      ],
    }),
    en: (d) => ({
      subject: `Request for an additional user for ${text(d, 'dossierName')}`,
      blocks: [
        { p: `Your client ${text(d, 'dossierName')} asks for client portal access for an additional user:` },
        {
          fields: [
            ['Name', text(d, 'requestedName')],
            ['E-mail', text(d, 'requestedEmail')],
            ['Note', text(d, 'note')],
          ],
        },
        { p: 'You can add this user in the dossier settings.' },
      ],
    }),
  },
  download_link: {
    nl: (d, _firm, f) => ({
      subject: `Documenten van ${dossier(d)} klaar om te downloaden`,
      blocks: [
        {
          p: `${text(d, 'documentCount')} te verwerken documenten van ${dossier(d)} staan klaar in één zip-bestand.`,
        },
        { button: { label: 'Documenten downloaden', url: text(d, 'downloadUrl') } },
        { p: `Deze link is geldig tot ${f.date(d.expiresAt)}.` },
      ],
    }),
    fr: (d, _firm, f) => ({
      subject: `Documents de ${dossier(d)} prêts à télécharger`,
      blocks: [
        {
          p: `${text(d, 'documentCount')} documents à traiter de ${dossier(d)} sont prêts dans un fichier zip.`,
        },
        { button: { label: 'Télécharger les documents', url: text(d, 'downloadUrl') } },
        { p: `Ce lien est valable jusqu'au ${f.date(d.expiresAt)}.` },
      ],
    }),
    en: (d, _firm, f) => ({
      subject: `Documents of ${dossier(d)} ready to download`,
      blocks: [
        {
          p: `${text(d, 'documentCount')} documents to process of ${dossier(d)} are ready in one zip file.`,
        },
        { button: { label: 'Download documents', url: text(d, 'downloadUrl') } },
        { p: `This link is valid until ${f.date(d.expiresAt)}.` },
      ],
    }),
  },
  invoice_run_finished: {
    nl: (d, _firm, f) => ({
      subject: `Facturatierun ${text(d, 'runName')} voltooid`,
      blocks: [
        {
          p: `De facturatierun ${text(d, 'runName')} is voltooid: ${text(d, 'invoiceCount')} facturen voor in totaal ${f.money(d.totalAmount, d.currency)}.`,
        },
        ...optional(d.url, { button: { label: 'Facturen bekijken', url: text(d, 'url') } }),
      ],
    }),
    fr: (d, _firm, f) => ({
      subject: `Facturation ${text(d, 'runName')} terminée`,
      blocks: [
        {
          p: `La facturation ${text(d, 'runName')} est terminée : ${text(d, 'invoiceCount')} factures pour un total de ${f.money(d.totalAmount, d.currency)}.`,
        },
        ...optional(d.url, { button: { label: 'Voir les factures', url: text(d, 'url') } }),
      ],
    }),
    en: (d, _firm, f) => ({
      subject: `Invoice run ${text(d, 'runName')} finished`,
      blocks: [
        {
          p: `The invoice run ${text(d, 'runName')} finished: ${text(d, 'invoiceCount')} invoices, ${f.money(d.totalAmount, d.currency)} in total.`,
        },
        ...optional(d.url, { button: { label: 'View invoices', url: text(d, 'url') } }),
      ],
    }),
  },
  invoice_run_failed: {
    nl: (d) => ({
      subject: `Facturatierun ${text(d, 'runName')} mislukt`,
      blocks: [
        { p: `De facturatierun ${text(d, 'runName')} is niet voltooid:` },
        { quote: text(d, 'reason') },
        ...optional(d.url, { button: { label: 'Run openen', url: text(d, 'url') } }),
      ],
    }),
    fr: (d) => ({
      subject: `Échec de la facturation ${text(d, 'runName')}`,
      blocks: [
        { p: `La facturation ${text(d, 'runName')} n'a pas abouti :` },
        { quote: text(d, 'reason') },
        ...optional(d.url, { button: { label: 'Ouvrir la facturation', url: text(d, 'url') } }),
      ],
    }),
    en: (d) => ({
      subject: `Invoice run ${text(d, 'runName')} failed`,
      blocks: [
        { p: `The invoice run ${text(d, 'runName')} did not finish:` },
        { quote: text(d, 'reason') },
        ...optional(d.url, { button: { label: 'Open the run', url: text(d, 'url') } }),
      ],
    }),
  },
  sync_problems_digest: {
    nl: (d) => ({
      subject: `${problems(d).length} synchronisatieproblemen met de boekhoudsoftware`,
      blocks: [
        { p: 'Bij de synchronisatie met de boekhoudsoftware liepen deze documenten vast:' },
        { list: problems(d) },
        { p: 'Dit is een overzicht: u ontvangt niet één e-mail per document.' },
      ],
    }),
    fr: (d) => ({
      subject: `${problems(d).length} problèmes de synchronisation avec le logiciel comptable`,
      blocks: [
        { p: 'Ces documents ont posé problème lors de la synchronisation avec le logiciel comptable :' },
        { list: problems(d) },
        { p: 'Ceci est un récapitulatif : vous ne recevez pas un e-mail par document.' },
      ],
    }),
    en: (d) => ({
      subject: `${problems(d).length} synchronisation problems with the accounting software`,
      blocks: [
        { p: 'These documents could not be synchronised with the accounting software:' },
        { list: problems(d) },
        { p: 'This is a digest: you do not receive one e-mail per document.' },
      ],
    }),
  },
  restore_finished: {
    nl: (d, _firm, f) => ({
      subject: 'Herstel voltooid',
      blocks: [{ p: `Het herstel van de back-up van ${f.date(d.backupTakenAt)} is voltooid.` }],
    }),
    fr: (d, _firm, f) => ({
      subject: 'Restauration terminée',
      blocks: [{ p: `La restauration de la sauvegarde du ${f.date(d.backupTakenAt)} est terminée.` }],
    }),
    en: (d, _firm, f) => ({
      subject: 'Restore finished',
      blocks: [{ p: `The restore of the backup of ${f.date(d.backupTakenAt)} finished.` }],
    }),
  },
  restore_failed: {
    nl: (d, _firm, f) => ({
      subject: 'Herstel mislukt',
      blocks: [
        { p: `Het herstel van de back-up van ${f.date(d.backupTakenAt)} is mislukt:` },
        { quote: text(d, 'reason') },
      ],
    }),
    fr: (d, _firm, f) => ({
      subject: 'Échec de la restauration',
      blocks: [
        { p: `La restauration de la sauvegarde du ${f.date(d.backupTakenAt)} a échoué :` },
        { quote: text(d, 'reason') },
      ],
    }),
    en: (d, _firm, f) => ({
      subject: 'Restore failed',
      blocks: [{ p: `The restore of the backup of ${f.date(d.backupTakenAt)} failed:` }, { quote: text(d, 'reason') }],
    }),
  },
};

const FOOTER: Record<Language, (firm: string) => string> = {
  nl: (firm) => `Deze e-mail werd verstuurd door ${firm} via Kantoor.`,
  fr: (firm) => `Cet e-mail a été envoyé par ${firm} via Kantoor.`,
  en: (firm) => `This e-mail was sent by ${firm} through Kantoor.`,
};

const escapeHtml = (value: string): string =>
  value.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char]!);

/** Only web links become buttons: a `javascript:` or `data:` URL in an event must never be clickable. */
const safeUrl = (url: string): string => (/^https?:\/\//i.test(url) ? url : '');

function blockHtml(block: Block): string {
  if ('p' in block) return `<p style="margin:0 0 16px">${escapeHtml(block.p)}</p>`;
  if ('button' in block) {
    const url = safeUrl(block.button.url);
    return url
      ? `<p style="margin:24px 0"><a href="${escapeHtml(url)}" style="background:#1f4e79;color:#ffffff;padding:12px 20px;border-radius:4px;text-decoration:none;display:inline-block">${escapeHtml(block.button.label)}</a></p>`
      : '';
  }
  if ('list' in block)
    return `<ul style="margin:0 0 16px;padding-left:20px">${block.list.map((item) => `<li>${escapeHtml(item)}</li>`).join('')}</ul>`;
  if ('quote' in block) {
    const lines = block.quote.split(/\r?\n/).map(escapeHtml).join('<br>');
    return `<blockquote style="margin:0 0 16px;padding:8px 16px;border-left:3px solid #cbd2d9;color:#323f4b">${lines}</blockquote>`;
  }
  const rows = block.fields
    .filter(([, value]) => value)
    .map(
      ([label, value]) =>
        `<tr><td style="padding:2px 16px 2px 0;color:#616e7c">${escapeHtml(label)}</td><td>${escapeHtml(value)}</td></tr>`,
    );
  return `<table role="presentation" style="margin:0 0 16px;border-collapse:collapse">${rows.join('')}</table>`;
}

function blockText(block: Block): string {
  if ('p' in block) return block.p;
  if ('button' in block) return safeUrl(block.button.url) ? `${block.button.label}: ${block.button.url}` : '';
  if ('list' in block) return block.list.map((item) => `- ${item}`).join('\n');
  if ('quote' in block)
    return block.quote
      .split(/\r?\n/)
      .map((line) => `> ${line}`)
      .join('\n');
  return block.fields
    .filter(([, value]) => value)
    .map(([label, value]) => `${label}: ${value}`)
    .join('\n');
}

export function renderMail(kind: MessageKind, language: Language, data: Data, firm: Firm): RenderedMail {
  const template = TEMPLATES[kind]?.[language];
  if (!template)
    throw invalidArgument(`there is no template for ${kind} in ${language}`, { reason: 'unknown_message_kind' });
  const firmName = firm.name || 'Kantoor';
  const written = template(data, firmName, formatsFor(language));
  // a subject typed by a client must not break out of its header line
  const subject = written.subject.replace(/[\r\n]+/g, ' ').trim();
  const blocks = written.blocks;
  const header = firm.logoCid
    ? `<img src="cid:${escapeHtml(firm.logoCid)}" alt="${escapeHtml(firmName)}" style="max-height:56px;max-width:240px">`
    : `<strong style="font-size:18px">${escapeHtml(firmName)}</strong>`;
  const html = [
    `<!doctype html><html lang="${language}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>`,
    '<body style="margin:0;padding:0;background:#f4f5f7;font-family:Arial,Helvetica,sans-serif;color:#1f2933">',
    '<table role="presentation" width="100%" style="border-collapse:collapse"><tr><td align="center" style="padding:24px">',
    '<table role="presentation" width="600" style="border-collapse:collapse;background:#ffffff;border-radius:6px">',
    `<tr><td style="padding:24px 32px;border-bottom:1px solid #e4e7eb">${header}</td></tr>`,
    `<tr><td style="padding:24px 32px;font-size:15px;line-height:1.5">${blocks.map(blockHtml).join('')}</td></tr>`,
    `<tr><td style="padding:16px 32px;font-size:12px;color:#7b8794">${escapeHtml(FOOTER[language](firmName))}</td></tr>`,
    '</table></td></tr></table></body></html>',
  ].join('');
  const body = blocks.map(blockText).filter(Boolean).join('\n\n');
  return { subject, html, text: `${firmName}\n\n${body}\n\n-- \n${FOOTER[language](firmName)}\n` };
}
