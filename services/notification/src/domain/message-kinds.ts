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

/** The first of the candidates that is a language we write in; Dutch when none is (the seed's language). */
export function languageOf(...candidates: Array<string | undefined | null>): Language {
  for (const candidate of candidates) {
    const language = candidate?.trim().toLowerCase().slice(0, 2);
    if ((LANGUAGES as readonly string[]).includes(language ?? '')) return language as Language;
  }
  return 'nl';
}

export const isMessageKind = (kind: string): kind is MessageKind => (MESSAGE_KINDS as readonly string[]).includes(kind);
