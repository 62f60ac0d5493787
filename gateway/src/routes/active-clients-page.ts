/**
 * The active clients monitor a page at a time (spec 02, spec 08). Two services decide which dossiers it shows:
 * the directory knows which dossiers the caller may see and their attributes (client group, file manager,
 * assigned staff, name), and it orders them (lower(name) as PostgreSQL computes it, then id); the intake knows
 * which of them hold documents (in a mailbox, waiting). Neither can page alone: the directory's page would
 * shrink once the intake drops dossiers without documents, and the intake cannot order by name.
 *
 * So a page is filled by walking the caller's dossiers in the directory's order, a batch at a time from the
 * cursor, and asking the intake which of each batch to show, until the page is full and one more dossier to
 * show is found, or the dossiers run out. The cursor is the directory's own cursor after the page's last dossier
 * (which the directory gives for each dossier of a batch), so the next page resumes right after it: a dossier
 * looked at beyond the page is looked at again, none is skipped, and only the last page is short.
 */
import { MAX_PAGE_SIZE } from '@kantoor/database';
import { unavailable } from '@kantoor/errors';

/** The caller's dossiers after a cursor, in the directory's order, each with the cursor that continues after it. */
export interface DossierBatch {
  dossiers: Array<{ id: string; name: string }>;
  cursorsAfter: string[];
  /** empty after the last dossier */
  nextCursor: string;
}

export interface ActiveClientsSources<Client extends { dossierId: string }> {
  /** up to `size` dossiers after `cursor` ('' for the first) */
  dossiersAfter(cursor: string, size: number): Promise<DossierBatch>;
  /** the dossiers of `dossierIds` the monitor shows (those with documents, as its filters ask), in any order */
  shownOf(dossierIds: string[]): Promise<Client[]>;
}

export async function activeClientsPage<Client extends { dossierId: string }>(
  page: { pageSize: number; cursor: string },
  sources: ActiveClientsSources<Client>,
): Promise<{ clients: Array<Client & { dossierName: string }>; nextCursor: string }> {
  const clients: Array<Client & { dossierName: string }> = [];
  let lastCursor = '';
  // the first batch fits a page of shown dossiers and the look beyond it; sparser lists take larger batches
  let size = Math.min(page.pageSize + 1, MAX_PAGE_SIZE);
  for (let cursor = page.cursor; ; size = Math.min(size * 2, MAX_PAGE_SIZE)) {
    const batch = await sources.dossiersAfter(cursor, size);
    if (batch.dossiers.length === 0) break;
    if (batch.cursorsAfter.length !== batch.dossiers.length)
      throw unavailable('The directory gives no cursor for each dossier it lists; it needs updating.', {
        reason: 'directory_outdated',
      });
    const shown = new Map(
      (await sources.shownOf(batch.dossiers.map((dossier) => dossier.id))).map((c) => [c.dossierId, c]),
    );
    for (const [index, dossier] of batch.dossiers.entries()) {
      const client = shown.get(dossier.id);
      if (!client) continue;
      if (clients.length === page.pageSize) return { clients, nextCursor: lastCursor };
      clients.push({ ...client, dossierName: dossier.name });
      lastCursor = batch.cursorsAfter[index];
    }
    if (!batch.nextCursor) break;
    cursor = batch.nextCursor;
  }
  return { clients, nextCursor: '' };
}
