/** How long an archived object is kept: spec 03, 7 years from the end of the document date's year by default. */
export type RetentionCounting = 'end_of_year' | 'document_date';

export interface RetentionPolicy {
  years: number;
  counting: RetentionCounting;
}

export const DEFAULT_RETENTION: RetentionPolicy = { years: 7, counting: 'end_of_year' };

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A calendar date (YYYY-MM-DD) that really exists, or undefined. */
export function parseDocumentDate(text: string | undefined): string | undefined {
  const match = text ? DATE.exec(text) : null;
  if (!match) return undefined;
  const date = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])));
  return date.toISOString().slice(0, 10) === text ? text : undefined;
}

/**
 * The retain-until moment (UTC). `end_of_year`: the years count from 1 January after the document's year,
 * so a document of 15 March 2026 is kept until 1 January 2034 with 7 years. `document_date`: from the date itself.
 */
export function retainUntilFor(documentDate: string, policy: RetentionPolicy): Date {
  const [year, month, day] = documentDate.split('-').map(Number);
  if (policy.counting === 'end_of_year') return new Date(Date.UTC(year + 1 + policy.years, 0, 1));
  const until = new Date(Date.UTC(year + policy.years, month - 1, day));
  // 29 February plus whole years lands on 1 March in common years; keep the last day of February instead
  if (until.getUTCMonth() !== month - 1) until.setUTCDate(0);
  return until;
}

export const describeRetention = (policy: RetentionPolicy, documentDate: string): string =>
  `retention ${policy.years} years from ${policy.counting === 'end_of_year' ? 'the end of the year of' : ''} the document date ${documentDate}`.replace(
    '  ',
    ' ',
  );
