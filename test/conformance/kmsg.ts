// Reading the guest's kernel log in test/conformance/pressure.test.ts: which
// lines belong to an OOM-killer report (expected there: the test drives the
// guest out of memory on purpose) and which would be a real alarm.

/**
 * Lines no OOM-killer report contains: a warning, BUG, oops, lockdep or
 * stall report. Case matters ("INFO:" is the hung-task and RCU-stall
 * prefix, "Mem-Info:" a line of every OOM report).
 */
const ALARMING = /cut here|BUG:|WARNING:|Oops|general protection|blocked for more than|INFO:|lockdep|circular locking|inconsistent lock|suspicious RCU|detected stall|soft lockup|hard LOCKUP|koffload.*([Ee]rror|[Ll]eak)/;
/** Lines of a report that are expected inside an OOM-killer report and alarming anywhere else. */
const TRACE = /Call Trace|page allocation failure|Modules linked in/i;

/**
 * Splits kernel log lines into OOM-killer reports (mm/oom_kill.c: from
 * "<comm> invoked oom-killer" to "Out of memory: Killed process ...") and
 * the rest. Returns the number of reports, the victims (pid, comm,
 * oom_score_adj) and the alarming lines: ALARMING anywhere, TRACE outside
 * a report. Lines of other CPUs can land inside a report; ALARMING still
 * finds theirs.
 */
export function readKmsg(lines: readonly string[]): { reports: number; victims: { pid: number; comm: string; adj: number }[]; bad: string[] } {
  const victims: { pid: number; comm: string; adj: number }[] = [];
  const bad: string[] = [];
  let reports = 0;
  let inReport = false;
  for (const l of lines) {
    if (ALARMING.test(l)) bad.push(l);
    if (/ invoked oom-killer: /.test(l)) {
      inReport = true;
      reports++;
      continue;
    }
    const v = /Out of memory: Killed process (\d+) \(([^)]*)\).*oom_score_adj:(-?\d+)/.exec(l);
    if (v) {
      victims.push({ pid: Number(v[1]), comm: v[2]!, adj: Number(v[3]) });
      inReport = false;
      continue;
    }
    if (/Out of memory/.test(l)) inReport = false;
    if (!inReport && TRACE.test(l)) bad.push(l);
  }
  return { reports, victims, bad };
}
