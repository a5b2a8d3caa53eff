// The pressure test's reading of the guest's kernel log
// (test/conformance/kmsg.ts): an OOM-killer report is expected there and
// must not count as an alarm; anything else alarming must, inside a report
// or not.
import assert from 'node:assert/strict';
import { readKmsg } from '../conformance/kmsg.js';

// The shape of a 6.1 report (mm/oom_kill.c dump_header(), __show_mem(),
// dump_oom_summary(), oom_kill_process()), with vm.oom_dump_tasks=0.
const REPORT = `[  101.210000] oomhog-child invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0
[  101.210100] CPU: 1 PID: 812 Comm: oomhog-child Tainted: G           OE      6.1.0-57-cloud-amd64 #1  Debian 6.1.158-1
[  101.210200] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[  101.210300] Call Trace:
[  101.210400]  <TASK>
[  101.210500]  dump_stack_lvl+0x44/0x5c
[  101.210600]  dump_header+0x4a/0x211
[  101.210700]  oom_kill_process.cold+0xb/0x10
[  101.210800]  out_of_memory+0x1fd/0x4c0
[  101.210900]  __alloc_pages_slowpath.constprop.0+0xc6e/0xe00
[  101.211000]  __handle_mm_fault+0x68a/0xe90
[  101.211100]  __mm_populate+0xd4/0x190
[  101.211200]  </TASK>
[  101.211300] Mem-Info:
[  101.211400] active_anon:1234 inactive_anon:456789 isolated_anon:0
[  101.211500] Node 0 DMA32 free:5012kB boost:0kB min:5044kB low:6304kB high:7564kB
[  101.211600] lowmem_reserve[]: 0 0 0 0 0
[  101.211700] Free swap  = 0kB
[  101.211800] Total swap = 1013756kB
[  101.211900] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=node,pid=640,uid=0
[  101.212000] Out of memory: Killed process 640 (node) total-vm:11063628kB, anon-rss:41212kB, file-rss:0kB, shmem-rss:52100kB, UID:0 pgtables:1540kB oom_score_adj:0
[  101.300000] oom_reaper: reaped process 640 (node), now anon-rss:0kB, file-rss:0kB, shmem-rss:52100kB`.split('\n');

const WARN = `[  102.000000] ------------[ cut here ]------------
[  102.000100] WARNING: CPU: 0 PID: 77 at kernel-shim/koffload_call.c:300 koffload_call_wait+0x1a/0x20 [koffload]
[  102.000200] Modules linked in: koffload_test(OE) koffload(OE) zram lzo_rle nlmon
[  102.000300] Call Trace:
[  102.000400]  <TASK>
[  102.000500]  </TASK>`.split('\n');

describe('kernel log reader of the pressure test', () => {
  it('an OOM-killer report is no alarm; its victim, pid and oom_score_adj are read', () => {
    const k = readKmsg(REPORT);
    assert.deepEqual(k.bad, []);
    assert.equal(k.reports, 1);
    assert.deepEqual(k.victims, [{ pid: 640, comm: 'node', adj: 0 }]);
  });

  it('a warning after a report is one, call trace and module list included', () => {
    const k = readKmsg([...REPORT, ...WARN]);
    assert.equal(k.victims.length, 1);
    assert.deepEqual(k.bad, WARN.slice(0, 4));
  });

  it('a warning of another CPU inside a report is still found', () => {
    const inside = [...REPORT.slice(0, 8), WARN[1]!, ...REPORT.slice(8)];
    assert.deepEqual(readKmsg(inside).bad, [WARN[1]]);
  });

  it('a call trace with no report around it is an alarm (a stall or allocation failure dump)', () => {
    const k = readKmsg(['[  103.000000] node: page allocation failure: order:0, mode:0x820(GFP_ATOMIC), nodemask=(null)', '[  103.000100] Call Trace:']);
    assert.equal(k.bad.length, 2);
    assert.equal(k.reports, 0);
  });

  it('a report cut short by "Out of memory and no killable processes" ends there', () => {
    const k = readKmsg([REPORT[0]!, '[  104.000000] Out of memory and no killable processes...', '[  104.100000] Call Trace:']);
    assert.deepEqual(k.victims, []);
    assert.deepEqual(k.bad, ['[  104.100000] Call Trace:']);
  });
});
