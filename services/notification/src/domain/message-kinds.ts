/** The mails the platform sends, and the languages it writes them in. */
export const MESSAGE_KINDS = [
  'staff_activation',
  'portal_user_activation',
  'portal_user_access_extended',
  'client_message',
  'vat_declaration_complete',
  'additional_user_request',
  'download_link',
  'invoice_run_finished',
  'invoice_run_failed',
  'sync_problems_digest',
  'restore_finished',
  'restore_failed',
] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

export const LANGUAGES = ['nl', 'fr', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];

const asLanguage = (candidate: string | undefined | null): Language | undefined => {
  const language = candidate?.trim().toLowerCase().slice(0, 2);
  return (LANGUAGES as readonly string[]).includes(language ?? '') ? (language as Language) : undefined;
};

/** Whether a candidate (e.g. `fr-BE`) names a language we write in. */
export const isLanguage = (candidate: string | undefined | null): boolean => asLanguage(candidate) !== undefined;

/** The first of the candidates that is a language we write in; Dutch when none is (the seed's language). */
export function languageOf(...candidates: Array<string | undefined | null>): Language {
  for (const candidate of candidates) {
    const language = asLanguage(candidate);
    if (language) return language;
  }
  return 'nl';
}

export const isMessageKind = (kind: string): kind is MessageKind => (MESSAGE_KINDS as readonly string[]).includes(kind);
