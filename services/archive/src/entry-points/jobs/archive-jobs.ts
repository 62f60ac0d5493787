/**
 * The verification and purge jobs: on a timer in embedded mode (that remembers their last run), as `node dist/main.js verify|purge` for the
 * chart's CronJobs in cluster mode. Each run is recorded (verification_run, purge_record) and queryable.
 */
import type { Database, Queryable } from '@kantoor/database';
import type { Logger } from '@kantoor/logging';
import type { ObjectStore } from '@kantoor/object-storage';
import { PURGE_JOB, runBackupFilePurge, runPurge } from '../../domain/purge';
import { runVerification } from '../../domain/verification';

export async function verifyJob(db: Database, store: ObjectStore, logger: Logger, sample: number) {
  const run = await runVerification(db, store, sample);
  const summary = { run: run.id, checked: run.checked, problems: run.findings.length };
  if (run.findings.length > 0)
    logger.error(
      { ...summary, findings: run.findings.slice(0, 20) },
      'archive verification found missing or changed objects',
    );
  else logger.info(summary, 'archive verification: every object intact');
  return run;
}

/** Documents' objects past their firm's retention, then backup files past their own retain-until date. */
export async function purgeJob(db: Database, store: ObjectStore, logger: Logger) {
  const records = await runPurge(db, store, PURGE_JOB);
  const backupFiles = await runBackupFilePurge(db, store, PURGE_JOB);
  logger.info({ purged: records.length, backupFilesPurged: backupFiles.length }, 'archive purge done');
  return { records, backupFiles };
}

const lastRunOf = async (db: Queryable, job: string): Promise<Date | undefined> =>
  (await db.query<{ at: Date }>('SELECT last_run_at AS at FROM archive_job_run WHERE job = $1', [job])).rows[0]?.at;

const recordRun = (db: Queryable, job: string, at: Date) =>
  db.query(
    `INSERT INTO archive_job_run (job, last_run_at) VALUES ($1, $2)
     ON CONFLICT (job) DO UPDATE SET last_run_at = GREATEST(archive_job_run.last_run_at, $2)`,
    [job, at],
  );

/** setTimeout fires at once for delays above 2^31-1 ms (about 24.8 days); longer waits are taken in steps. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs `job` every `intervalMs` (0: never), one run at a time; `stop` waits for a run under way. The start of
 * each run that ends without error is kept in `archive_job_run` under `name`: a job that is due when the
 * process starts (never run, or last run more than an interval ago) runs at once, since a process restarted
 * more often than the interval would otherwise never run it. A failed run is tried again an interval later.
 */
export function schedule(
  db: Queryable,
  intervalMs: number,
  job: () => Promise<unknown>,
  logger: Logger,
  name: string,
  now: () => Date = () => new Date(),
) {
  if (intervalMs <= 0) return { ready: Promise.resolve(), stop: async () => undefined };
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  const run = async () => {
    const startedAt = now();
    try {
      await job();
      await recordRun(db, name, startedAt);
    } catch (error) {
      logger.error({ err: error }, `${name} failed`);
    }
  };
  const runAt = (dueAt: number) => {
    if (stopped) return;
    const waitMs = dueAt - now().getTime();
    if (waitMs > 0) {
      timer = setTimeout(() => runAt(dueAt), Math.min(waitMs, LONGEST_TIMER_MS));
      timer.unref();
      return;
    }
    running = run().finally(() => {
      running = undefined;
      runAt(now().getTime() + intervalMs);
    });
  };
  const started = lastRunOf(db, name).then(
    (last) => runAt(last ? last.getTime() + intervalMs : 0),
    (error: unknown) => {
      logger.error({ err: error }, `${name}: its last run could not be read; it runs in one interval`);
      runAt(now().getTime() + intervalMs);
    },
  );
  return {
    /** resolves once the last run was read: a due run has started by then */
    ready: started,
    async stop() {
      stopped = true;
      await started;
      clearTimeout(timer);
      await running;
    },
  };
}
