/**
 * Lists a page at a time (spec 08): the query's `pageSize` (1–200, default 50) and `cursor`, the answer's
 * `nextCursor` (empty on the last page), as GET /v1/api-keys has them. Lists that took a `limit` before they had
 * pages keep it as a deprecated name of `pageSize`, so that their clients go on working.
 */
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from '@kantoor/database';
import { invalidArgument } from '@kantoor/errors';
import type { JsonSchema } from '../openapi/route';

const pageSize = {
  type: 'integer',
  minimum: 1,
  maximum: MAX_PAGE_SIZE,
  description: `items a page; default ${DEFAULT_PAGE_SIZE}`,
} as const;
const cursor = {
  type: 'string',
  maxLength: 1000,
  description: 'the `nextCursor` of the previous page; none (or empty) for the first page',
} as const;

/** The query properties of a paged list; `limitUpTo`: the largest `limit` the list took before it had pages. */
export const pageQuery = (limitUpTo?: number): Record<string, JsonSchema> => ({
  pageSize,
  cursor,
  ...(limitUpTo && {
    limit: {
      type: 'integer',
      minimum: 1,
      maximum: limitUpTo,
      deprecated: true,
      description: `deprecated: use \`pageSize\`. The items of the first page (1–${limitUpTo}); \`nextCursor\` leads on`,
    },
  }),
});

export const nextCursor = {
  type: 'string',
  description: 'the cursor of the next page (pass it as `cursor`); empty on the last page',
} as const;

export type PageQuery = {
  pageSize?: number;
  cursor?: string;
  limit?: number;
};

/**
 * What the service is asked for: the page size and the cursor, or the deprecated `limit` as it was given (the
 * service takes it up to the list's old maximum, above the page size's).
 */
export function pageOf(query: PageQuery): { pageSize: number; limit: number; cursor: string } {
  if (query.pageSize !== undefined && query.limit !== undefined)
    throw invalidArgument('Give pageSize or its deprecated name limit, not both.', {
      reason: 'validation_failed',
      violations: [{ field: 'query.limit', message: 'is the deprecated name of pageSize; give only pageSize' }],
    });
  const cursor = query.cursor ?? '';
  if (query.limit !== undefined) return { pageSize: 0, limit: query.limit, cursor };
  return { pageSize: query.pageSize ?? DEFAULT_PAGE_SIZE, limit: 0, cursor };
}
