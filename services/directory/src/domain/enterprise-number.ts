export const COUNTRIES = ['BE', 'NL'] as const;
export type Country = (typeof COUNTRIES)[number];

/**
 * The enterprise number in its stored form (digits only), or the reason it is not valid.
 * BE: 10 digits (the old 9-digit form gets its leading 0), starting with 0 or 1, whose last two digits are
 * 97 minus the first eight modulo 97. NL: the KvK number, 8 digits.
 */
export function normaliseEnterpriseNumber(country: string, input: string): { value: string } | { problem: string } {
  const cleaned = input
    .trim()
    .toUpperCase()
    .replace(/^(BE|NL)/, '')
    .replace(/[\s.\-]/g, '');
  if (!/^\d+$/.test(cleaned)) return { problem: 'may contain only digits (spaces, dots and dashes are ignored)' };
  if (country === 'BE') {
    const digits = cleaned.length === 9 ? `0${cleaned}` : cleaned;
    if (digits.length !== 10) return { problem: 'a Belgian enterprise number has 10 digits' };
    if (!/^[01]/.test(digits)) return { problem: 'a Belgian enterprise number starts with 0 or 1' };
    const check = 97 - (Number(digits.slice(0, 8)) % 97);
    if (check !== Number(digits.slice(8)))
      return { problem: 'the check digits (mod 97) do not match: check for a typing error' };
    return { value: digits };
  }
  if (country === 'NL') {
    if (cleaned.length !== 8) return { problem: 'a Dutch KvK number has 8 digits' };
    return { value: cleaned };
  }
  return { problem: 'country must be BE or NL' };
}
