import { invalidArgument, type FieldViolation } from '@kantoor/errors';

export const LANGUAGES = ['nl', 'fr', 'en'] as const;
export type Language = (typeof LANGUAGES)[number];
export const ROLES = ['admin', 'employee', 'support'] as const;
export type Role = (typeof ROLES)[number];

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
export const DOMAIN = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/** Collects field problems and throws them together, so a form shows every mistake at once. */
export class Violations {
  private readonly list: FieldViolation[] = [];

  check(condition: boolean, field: string, message: string): this {
    if (!condition) this.list.push({ field, message });
    return this;
  }

  email(value: string, field: string): this {
    // the length first: the pattern's cost grows with the square of a long run of dots
    return this.check(value.length <= 254 && EMAIL.test(value), field, 'must be an e-mail address');
  }

  name(value: string, field: string, max = 200): this {
    return this.check(value.trim().length > 0 && value.length <= max, field, `must be between 1 and ${max} characters`);
  }

  oneOf(value: string, allowed: readonly string[], field: string): this {
    return this.check(allowed.includes(value), field, `must be one of ${allowed.join(', ')}`);
  }

  throwIfAny(message = 'The request has invalid fields'): void {
    if (this.list.length > 0) throw invalidArgument(message, { reason: 'validation_failed', violations: this.list });
  }
}

const CONTACT_FIELDS = ['address', 'postalCode', 'city', 'country', 'phone', 'email', 'website'] as const;

/** Contact information is informative: only its length and, when given, the e-mail address are checked. */
export function cleanContact(
  input: Partial<Record<string, string>>,
  violations: Violations,
  field: string,
): Partial<Record<(typeof CONTACT_FIELDS)[number], string>> {
  const contact: Partial<Record<(typeof CONTACT_FIELDS)[number], string>> = {};
  for (const key of CONTACT_FIELDS) {
    const value = input[key]?.trim();
    if (!value) continue;
    violations.check(value.length <= 300, `${field}.${key}`, 'may have at most 300 characters');
    if (key === 'email') violations.email(value, `${field}.email`);
    contact[key] = value;
  }
  return contact;
}
