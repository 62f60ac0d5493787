import { decodeCursor, isPostgresTime, isSerialId, pageOfRows, type Database, type Queryable } from '@kantoor/database';
import type { ObjectStore } from '@kantoor/object-storage';
import { digestOf } from './write-once-copy';

export interface Finding {
  /** '' for a backup file */
  object_id: string;
  /** set for a backup file, which has no dossier (dossier_id '') */
  backup_file_id: string | null;
  key: string;
  dossier_id: string;
  firm_id: string;
  problem: 'mismatch' | 'missing';
  expected_sha256: string;
  actual_sha256: string | null;
}

export interface VerificationRunRow {
  id: string;
  started_at: Date;
  finished_at: Date | null;
  checked: number;
  /** the first FINDINGS_SHOWN */
  findings: Finding[];
  /** all of them */
  finding_count: number;
}

/** The findings a run shows at most (a storage outage makes every object a finding, in every run). */
export const FINDINGS_SHOWN = 1000;

/** An archived object (`archive_object`) or a backup file (`backup_file`), by the table it is recorded in. */
interface Candidate {
  stored_in: 'archive_object' | 'backup_file';
  id: string;
  key: string;
  sha256: string;
  dossier_id: string;
  firm_id: string;
}

async function check(store: ObjectStore, object: Candidate): Promise<Finding | undefined> {
  const backupFile = object.stored_in === 'backup_file';
  const base = {
    object_id: backupFile ? '' : object.id,
    backup_file_id: backupFile ? object.id : null,
    key: object.key,
    dossier_id: object.dossier_id,
    firm_id: object.firm_id,
  };
  try {
    const { sha256 } = await digestOf(await store.get(object.key));
    if (sha256 === object.sha256) return undefined;
    return { ...base, problem: 'mismatch', expected_sha256: object.sha256, actual_sha256: sha256 };
  } catch (error) {
    // bytes gone from under a still-present description (folder store) read as ENOENT
    const { reason, code } = error as { reason?: string; code?: string };
    if (reason !== 'object_not_found' && code !== 'ENOENT') throw error;
    return { ...base, problem: 'missing', expected_sha256: object.sha256, actual_sha256: null };
  }
}

/**
 * The verification job: re-reads every archived object and backup file (sample 0) or a random sample of both,
 * compares its SHA-256 with the one recorded at ingest and records every one missing or changed. `firmId` limits
 * it to one firm.
 */
export async function runVerification(
  db: Database,
  store: ObjectStore,
  sample = 0,
  batch = 500,
  firmId?: string,
): Promise<VerificationRunRow> {
  const startedAt = new Date();
  const { rows } = await db.query<{ id: string }>(
    'INSERT INTO verification_run (started_at, sample, firm_id) VALUES ($1, $2, $3) RETURNING id::text AS id',
    [startedAt, sample, firmId ?? null],
  );
  const runId = rows[0].id;
  // the same columns from both tables (as `t`); `$1` the firm (or NULL), `where` more conditions on `t`
  const objects = (where = 'true') => `SELECT 'archive_object' AS stored_in, t.id::text AS id, t.key, t.sha256,
    t.dossier_id::text AS dossier_id, t.firm_id FROM archive_object t
    WHERE t.purged_at IS NULL AND ($1::uuid IS NULL OR t.firm_id = $1) AND ${where}`;
  const backupFiles = (where = 'true') => `SELECT 'backup_file' AS stored_in, t.id::text AS id, t.key, t.sha256,
    '' AS dossier_id, t.firm_id FROM backup_file t
    WHERE t.purged_at IS NULL AND ($1::uuid IS NULL OR t.firm_id = $1) AND ${where}`;
  let checked = 0;
  const checkedPerFirm = new Map<string, number>();
  const findings: Finding[] = [];
  const verify = async (candidates: Candidate[]) => {
    for (const candidate of candidates) {
      const finding = await check(store, candidate);
      checked++;
      checkedPerFirm.set(candidate.firm_id, (checkedPerFirm.get(candidate.firm_id) ?? 0) + 1);
      if (!finding) continue;
      findings.push(finding);
      await db.query(
        candidate.stored_in === 'backup_file'
          ? 'INSERT INTO backup_file_verification_finding (run_id, backup_file_id, problem, actual_sha256) VALUES ($1, $2, $3, $4)'
          : 'INSERT INTO verification_finding (run_id, object_id, problem, actual_sha256) VALUES ($1, $2, $3, $4)',
        [runId, candidate.id, finding.problem, finding.actual_sha256],
      );
    }
  };
  if (sample > 0) {
    const picked = await db.query<Candidate>(
      `SELECT * FROM (${objects()} UNION ALL ${backupFiles()}) candidate ORDER BY random() LIMIT $2`,
      [firmId ?? null, sample],
    );
    await verify(picked.rows);
  } else {
    for (const table of [objects, backupFiles])
      for (let afterId = '0'; ;) {
        const page = await db.query<Candidate>(`${table('t.id > $2')} ORDER BY t.id LIMIT $3`, [
          firmId ?? null,
          afterId,
          batch,
        ]);
        await verify(page.rows);
        if (page.rows.length < batch) break;
        afterId = page.rows[page.rows.length - 1].id;
      }
  }
  const finishedAt = new Date();
  await db.transaction(async (tx) => {
    await tx.query('UPDATE verification_run SET finished_at = $2, checked = $3 WHERE id = $1', [
      runId,
      finishedAt,
      checked,
    ]);
    await tx.query(
      `INSERT INTO verification_run_firm (run_id, firm_id, checked)
       SELECT $1, firm, count FROM unnest($2::uuid[], $3::int[]) AS split (firm, count)`,
      [runId, [...checkedPerFirm.keys()], [...checkedPerFirm.values()]],
    );
  });
  return {
    id: runId,
    started_at: startedAt,
    finished_at: finishedAt,
    checked,
    findings: findings.slice(0, FINDINGS_SHOWN),
    finding_count: findings.length,
  };
}

/**
 * One page of runs with their findings, newest start first (the run id breaks ties); `nextCursor` (empty on the
 * last page) holds the last run's start as PostgreSQL writes it, with the microseconds a JavaScript Date would
 * drop, and its id. With `firmId`, one firm's view: its admins' runs and the platform's runs that checked its
 * objects, each with what it checked and found of that firm's objects only; other firms' runs never show.
 */
export async function verificationRuns(
  db: Queryable,
  page: { pageSize: number; cursor?: string },
  firmId?: string,
): Promise<{ runs: VerificationRunRow[]; nextCursor: string }> {
  const after = page.cursor ? decodeCursor(page.cursor, isPostgresTime, isSerialId) : undefined;
  const listed = await db.query<Omit<VerificationRunRow, 'findings' | 'finding_count'> & { position: string }>(
    `SELECT r.id::text AS id, r.started_at, r.finished_at, r.started_at::text AS position,
       CASE WHEN $2::uuid IS NULL THEN r.checked ELSE COALESCE(split.checked, 0) END AS checked
     FROM verification_run r
     LEFT JOIN verification_run_firm split ON split.run_id = r.id AND split.firm_id = $2
     WHERE ($2::uuid IS NULL OR r.firm_id = $2 OR (r.firm_id IS NULL AND split.run_id IS NOT NULL))
       AND ($3::timestamptz IS NULL OR (r.started_at, r.id) < ($3::timestamptz, $4::bigint))
     ORDER BY r.started_at DESC, r.id DESC LIMIT $1`,
    [page.pageSize + 1, firmId ?? null, after?.key ?? null, after?.id ?? null],
  );
  const { rows, nextCursor } = pageOfRows(listed.rows, page.pageSize, (run) => [run.position, run.id]);
  const runs = rows.map(({ position: _position, ...run }) => run);
  if (runs.length === 0) return { runs: [], nextCursor };
  const found = await db.query<
    Finding & { run_id: string; object_order: unknown; backup_file_order: unknown; total: number; n: unknown }
  >(
    `SELECT * FROM (
     SELECT finding.*,
       count(*) OVER (PARTITION BY run_id)::int AS total,
       row_number() OVER (PARTITION BY run_id ORDER BY backup_file_order NULLS FIRST, object_order) AS n
     FROM (
       SELECT f.run_id::text AS run_id, f.object_id::text AS object_id, NULL AS backup_file_id, o.key,
         o.dossier_id::text AS dossier_id, o.firm_id, f.problem, o.sha256 AS expected_sha256, f.actual_sha256,
         f.object_id AS object_order, NULL::bigint AS backup_file_order
       FROM verification_finding f JOIN archive_object o ON o.id = f.object_id
       WHERE f.run_id = ANY($1::bigint[]) AND ($2::uuid IS NULL OR o.firm_id = $2)
       UNION ALL
       SELECT f.run_id::text, '', b.id::text, b.key, '', b.firm_id, f.problem, b.sha256, f.actual_sha256, NULL, b.id
       FROM backup_file_verification_finding f JOIN backup_file b ON b.id = f.backup_file_id
       WHERE f.run_id = ANY($1::bigint[]) AND ($2::uuid IS NULL OR b.firm_id = $2)
     ) finding
     ) numbered WHERE n <= $3 ORDER BY backup_file_order NULLS FIRST, object_order`,
    [runs.map((run) => run.id), firmId ?? null, FINDINGS_SHOWN],
  );
  // grouped in one pass (a filter per run read every finding once per run: 1M findings over 200 runs took 3.3 s)
  const byRun = new Map<string, { findings: Finding[]; total: number }>(
    runs.map((run) => [run.id, { findings: [], total: 0 }]),
  );
  for (const { run_id: runId, object_order: _o, backup_file_order: _f, total, n: _n, ...finding } of found.rows) {
    const ofRun = byRun.get(runId);
    if (!ofRun) continue;
    ofRun.findings.push(finding);
    ofRun.total = total;
  }
  return {
    runs: runs.map((run) => {
      const { findings, total } = byRun.get(run.id)!;
      return { ...run, findings, finding_count: total };
    }),
    nextCursor,
  };
}
