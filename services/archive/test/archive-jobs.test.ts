import { schedule } from '../src/entry-points/jobs/archive-jobs';
import { eventually, startArchive, type Harness } from './archive-harness';

let h: Harness;
beforeEach(async () => {
  h = await startArchive();
});
afterEach(() => h.close());

const DAY = 24 * 3600_000;
const lastRun = async (job: string) =>
  (await h.service.db.query<{ at: Date }>('SELECT last_run_at AS at FROM archive_job_run WHERE job = $1', [job]))
    .rows[0]?.at;

/** Starts the job's timer as the service does at start, lets it decide and stops it: how often did it run? */
async function startAndStop(clock: () => Date, intervalMs = DAY) {
  let runs = 0;
  const timer = schedule(h.service.db, intervalMs, async () => runs++, h.service.logger, 'purge', clock);
  // a due run has started once the timer is ready, and stop() waits for it
  await timer.ready;
  await timer.stop();
  return runs;
}

describe('embedded archive jobs', () => {
  test('a job never run or overdue runs at start; restarted within its interval it waits, whatever the restarts', async () => {
    const start = new Date('2026-05-01T08:00:00.000Z');
    expect(await startAndStop(() => start)).toBe(1);
    expect(await lastRun('purge')).toEqual(start);

    // restarted every few hours: nothing runs until a day has passed since the last run ...
    for (const hours of [1, 6, 23.9])
      expect(await startAndStop(() => new Date(start.getTime() + hours * 3600_000))).toBe(0);
    expect(await lastRun('purge')).toEqual(start);
    // ... then the next start runs it, and keeps the new time
    const dayLater = new Date(start.getTime() + DAY + 60_000);
    expect(await startAndStop(() => dayLater)).toBe(1);
    expect(await lastRun('purge')).toEqual(dayLater);
    // the other job keeps its own time
    expect(await lastRun('verification')).toBeUndefined();
  });

  test('after its first run a job runs again every interval; a failing run is not counted as run', async () => {
    let runs = 0;
    const timer = schedule(h.service.db, 50, async () => runs++, h.service.logger, 'verification');
    await eventually(
      async () => runs,
      (count) => count >= 3,
    );
    await timer.stop();
    expect(runs).toBeGreaterThanOrEqual(3);
    const stoppedAt = runs;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(runs).toBe(stoppedAt);

    await h.service.db.query('DELETE FROM archive_job_run');
    const failing = schedule(
      h.service.db,
      DAY,
      async () => {
        throw new Error('store down');
      },
      h.service.logger,
      'purge',
    );
    await failing.ready;
    await failing.stop();
    expect(await lastRun('purge')).toBeUndefined();
  });

  test('an interval of 0 schedules nothing', async () => {
    let runs = 0;
    const timer = schedule(h.service.db, 0, async () => runs++, h.service.logger, 'purge');
    await new Promise((resolve) => setTimeout(resolve, 100));
    await timer.stop();
    expect(runs).toBe(0);
  });
});
