-- archive: when each embedded job (verification, purge) last ran to its end, so that a process restarted more
-- often than the job's interval still runs it when it is due.
CREATE TABLE archive_job_run (
  job text PRIMARY KEY,
  last_run_at timestamptz NOT NULL
);
