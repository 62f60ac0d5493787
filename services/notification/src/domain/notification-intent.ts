import { messageIdFor } from './message-id';
import { languageOf, type MessageKind } from './message-kinds';
import type { SecretBox } from './secret-box';

/** What an event asks to be sent, as it is recorded before anything is sent. */
export interface NotificationIntent {
  eventId: string;
  kind: MessageKind;
  firmId: string;
  dossierId?: string;
  /** '' while the cascade still has to find it */
  recipient: string;
  /** direct, or how the cascade found the recipient (file_manager, client_group, firm_address), or `cascade` while still to be resolved */
  routedVia: string;
  language: string;
  /** what the template shows; never secrets */
  data: Record<string, unknown>;
  sealedData?: string;
  messageId: string;
  /** set when the intent can never be sent (no usable address): recorded as failed, for the log to show */
  failure?: string;
}

export interface IntentRequest {
  eventId: string;
  kind: MessageKind;
  firmId: string;
  dossierId?: string;
  /** an address, or the dossier's cascade to be resolved when sending */
  to: { email: string; routedVia?: string } | 'dossier_cascade';
  /** candidates in order of preference: the dossier's or user's language first, then the firm's */
  languages: Array<string | undefined | null>;
  data: Record<string, unknown>;
  /** activation tokens, download links: sealed at rest, opened only to render the mail */
  secrets?: Record<string, string>;
}

const EMAIL = /^[^\s@<>(),;:"]+@[^\s@<>(),;:"]+\.[^\s@<>(),;:"]+$/;

/** The length first: the pattern's cost grows with the square of a long run of dots. */
export const isMailAddress = (value: string): boolean => value.length <= 254 && EMAIL.test(value);

export function planIntent(
  request: IntentRequest,
  context: { box: SecretBox; messageIdDomain: string },
): NotificationIntent {
  const cascade = request.to === 'dossier_cascade';
  const recipient = cascade ? '' : (request.to as { email: string }).email.trim().toLowerCase();
  const secrets = Object.entries(request.secrets ?? {}).filter(([, value]) => value);
  return {
    eventId: request.eventId,
    kind: request.kind,
    firmId: request.firmId,
    dossierId: request.dossierId,
    recipient,
    routedVia: cascade ? 'cascade' : ((request.to as { routedVia?: string }).routedVia ?? 'direct'),
    language: languageOf(...request.languages),
    data: request.data,
    sealedData: secrets.length > 0 ? context.box.seal(JSON.stringify(Object.fromEntries(secrets))) : undefined,
    // the slot is what tells apart several mails of one event; a cascade mail has one slot, whoever it reaches
    messageId: messageIdFor(
      { eventId: request.eventId, kind: request.kind, slot: cascade ? 'cascade' : recipient },
      context.messageIdDomain,
    ),
    failure: cascade || isMailAddress(recipient) ? undefined : `no usable recipient address: "${recipient}"`,
  };
}
