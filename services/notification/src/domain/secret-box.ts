import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { failedPrecondition, invalidArgument } from '@kantoor/errors';

/**
 * Seals secrets at rest (SMTP passwords, activation tokens in queued mails) with AES-256-GCM. A sealed value is
 * `v1.<iv>.<tag>.<ciphertext>` in base64url; the GCM tag makes a changed value or a wrong key fail loudly.
 */
export class SecretBox {
  private readonly key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw invalidArgument('the notification secret key must be 32 bytes (AES-256)');
    this.key = key;
  }

  /** NOTIFICATION_SECRET_KEY: 32 bytes as base64 (44 characters) or hex (64 characters). */
  static fromSetting(value: string): SecretBox {
    const key = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
    return new SecretBox(key);
  }

  static generateKey(): string {
    return randomBytes(32).toString('base64');
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const sealed = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv, cipher.getAuthTag(), sealed]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
  }

  open(sealed: string): string {
    const [version, iv, tag, data] = sealed.split('.');
    if (version !== 'v1' || !iv || !tag || data === undefined)
      throw failedPrecondition('a sealed secret is malformed', { reason: 'sealed_secret_malformed' });
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw failedPrecondition('a sealed secret cannot be opened with this key (NOTIFICATION_SECRET_KEY changed?)', {
        reason: 'sealed_secret_unreadable',
      });
    }
  }
}
