import { isMessageKind, languageOf } from './message-kinds';
import type { SecretBox } from './secret-box';
import { renderMail, type RenderedMail } from './templates';
import { invalidArgument } from '@kantoor/errors';

export const LOGO_CID = 'firm-logo@kantoor';

export interface MailToCompose {
  kind: string;
  language: string;
  data: Record<string, unknown>;
  sealedData: string | null;
}

/**
 * The data a template needs: the recorded data, the opened secrets, and links built from them (the token
 * travels in the link only, never in the log).
 */
export function composeMail(
  mail: MailToCompose,
  context: { box: SecretBox; publicUrl: string; firmName: string; hasLogo: boolean },
): RenderedMail {
  if (!isMessageKind(mail.kind))
    throw invalidArgument(`unknown message kind ${mail.kind}`, { reason: 'unknown_message_kind' });
  const secrets = mail.sealedData ? (JSON.parse(context.box.open(mail.sealedData)) as Record<string, string>) : {};
  const base = context.publicUrl.replace(/\/+$/, '');
  const data: Record<string, unknown> = { ...mail.data, ...secrets };
  if (secrets.activationToken) {
    const path = mail.kind === 'portal_user_activation' ? '/portal/activate' : '/activate';
    data.activationUrl = `${base}${path}?token=${encodeURIComponent(secrets.activationToken)}`;
  }
  if (mail.kind === 'portal_user_access_extended') data.loginUrl = `${base}/portal`;
  return renderMail(mail.kind, languageOf(mail.language), data, {
    name: context.firmName,
    logoCid: context.hasLogo ? LOGO_CID : undefined,
  });
}
