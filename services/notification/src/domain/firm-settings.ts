import { invalidArgument, type FieldViolation } from '@kantoor/errors';
import { isMailAddress } from './notification-intent';

export interface SmtpSettingsInput {
  host: string;
  port: number;
  tls: string;
  username: string;
  password?: string;
  senderAddress: string;
  senderName: string;
}

const HOST = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$/;
const NO_LINE_BREAK = /^[^\r\n]*$/;

/** Refuses settings that cannot work, naming every problem at once. */
export function checkSmtpSettings(input: SmtpSettingsInput): SmtpSettingsInput & { tls: 'none' | 'starttls' | 'tls' } {
  const violations: FieldViolation[] = [];
  const host = input.host.trim();
  if (!HOST.test(host)) violations.push({ field: 'host', message: 'must be a host name or an IP address' });
  if (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535)
    violations.push({ field: 'port', message: 'must be between 1 and 65535' });
  if (!['none', 'starttls', 'tls'].includes(input.tls))
    violations.push({ field: 'tls', message: 'must be none, starttls or tls' });
  if (input.username.length > 320 || !NO_LINE_BREAK.test(input.username))
    violations.push({ field: 'username', message: 'must be one line of at most 320 characters' });
  if ((input.password?.length ?? 0) > 1000)
    violations.push({ field: 'password', message: 'must be at most 1000 characters' });
  if (!isMailAddress(input.senderAddress.trim()))
    violations.push({ field: 'senderAddress', message: 'must be an e-mail address' });
  if (input.senderName.length > 200 || !NO_LINE_BREAK.test(input.senderName))
    violations.push({ field: 'senderName', message: 'must be one line of at most 200 characters' });
  if (violations.length > 0) {
    throw invalidArgument(
      `The SMTP settings are not valid: ${violations.map((v) => `${v.field} ${v.message}`).join('; ')}.`,
      {
        reason: 'invalid_smtp_settings',
        violations,
      },
    );
  }
  return { ...input, host, senderAddress: input.senderAddress.trim(), tls: input.tls as 'none' | 'starttls' | 'tls' };
}

export const MAX_LOGO_BYTES = 256 * 1024;

const SIGNATURES: Record<string, number[]> = {
  'image/png': [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
  'image/jpeg': [0xff, 0xd8, 0xff],
};

/** A logo is a PNG or JPEG whose bytes say so, small enough to travel in every mail. */
export function checkLogo(logo: Uint8Array, contentType: string): void {
  const signature = SIGNATURES[contentType];
  if (!signature) throw invalidArgument('The logo must be a PNG or JPEG image.', { reason: 'logo_type_not_supported' });
  if (logo.length > MAX_LOGO_BYTES)
    throw invalidArgument(`The logo is larger than ${MAX_LOGO_BYTES / 1024} KiB.`, { reason: 'logo_too_large' });
  if (!signature.every((byte, index) => logo[index] === byte)) {
    throw invalidArgument(`The logo's content is not ${contentType}.`, { reason: 'logo_content_mismatch' });
  }
}
