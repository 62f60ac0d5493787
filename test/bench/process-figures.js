/**
 * What the benchmarks read of processes from Linux's /proc: CPU time (user and system, all threads), steadier
 * than rates on a shared machine, and resident memory.
 */
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

module.exports = { cpuOf, rssOf, postgresCpuSeconds };
