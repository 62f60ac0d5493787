/**
 * The verification and purge jobs: on a timer in embedded mode, as `node dist/main.js verify|purge` for the
 * chart's CronJobs in cluster mode. Each run is recorded (verification_run, purge_record) and queryable.
 */
import type { Database } from '@kantoor/database';
import type { Logger } from '@kantoor/logging';
import type { ObjectStore } from '@kantoor/object-storage';
import { runPurge } from '../../domain/purge';
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

export async function purgeJob(db: Database, store: ObjectStore, logger: Logger) {
  const records = await runPurge(db, store);
  logger.info({ purged: records.length }, 'archive purge done');
  return records;
}

/** Runs `job` every `minutes` (0: never), one run at a time; `stop` waits for a run under way. */
export function schedule(minutes: number, job: () => Promise<unknown>, logger: Logger, name: string) {
  if (minutes <= 0) return { stop: async () => undefined };
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = job()
      .catch((error: unknown) => logger.error({ err: error }, `${name} failed`))
      .finally(() => (running = undefined));
  }, minutes * 60_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
