/**
 * What the benchmarks read of processes from Linux's /proc: CPU time (user and system, all threads), steadier
 * than rates on a shared machine, and resident memory.
 */
const { spawnSync } = require('node:child_process');
const { readdirSync, readFileSync } = require('node:fs');

/** CPU seconds a process has used, all its threads */
function cpuOf(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime and stime, in clock ticks of 1/100 s
}

/** resident memory of a process, in bytes */
const rssOf = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

/** CPU seconds of every PostgreSQL server process on this machine (its other databases count too) */
function postgresCpuSeconds() {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') total += cpuOf(entry);
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}

/**
 * CPU seconds the hypervisor gave to other guests while this machine's cores wanted to run (steal time, all
 * cores together; 0 where /proc/stat has no such column). A benchmark whose measurement lost more than a few
 * tenths of a second this way measured the neighbours as much as the code.
 */
function stolenCpuSeconds() {
  const fields = /^cpu\s+(.*)$/m.exec(readFileSync('/proc/stat', 'utf8'))[1].trim().split(/\s+/);
  return Number(fields[7] ?? 0) / 100; // user nice system idle iowait irq softirq steal, in ticks of 1/100 s
}

/**
 * Seconds this machine takes, at the moment, for `node -e 'let s=0;for(let i=0;i<3e8;i++)s+=i'` (node's start
 * included): how fast its cores are, so that figures from different sessions and hours can be set side by side.
 * The same development VM took 1.6 s on a fast hour and 2.3–4.1 s on slow ones (2026-12-03), with little stolen time
 * in either: slower cores, not busier ones. The benchmarks print it before they start anything.
 */
function machineLoopSeconds() {
  const begun = process.hrtime.bigint();
  const run = spawnSync(process.execPath, ['-e', 'let s=0;for(let i=0;i<3e8;i++)s+=i;if(!(s>0))process.exit(1)']);
  if (run.status !== 0) throw new Error(`the calibration loop failed: ${run.stderr}`);
  return Number((Number(process.hrtime.bigint() - begun) / 1e9).toFixed(2));
}

module.exports = { cpuOf, machineLoopSeconds, rssOf, postgresCpuSeconds, stolenCpuSeconds };
