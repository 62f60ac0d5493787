/** A row of a paged list with the key it is sorted on, as the database computed it (for the next page's cursor). */
export type SortedRow<View> = View & { sort_key: string };
