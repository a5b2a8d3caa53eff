// The pressure test's reading of the guest's kernel log
// (test/conformance/kmsg.ts): an OOM-killer report is expected there and
// must not count as an alarm; anything else alarming must, inside a report
// or not.
import assert from 'node:assert/strict';
import { readKmsg } from '../conformance/kmsg.js';

// A 6.1 report of the guest (build/kernel-test.log of a pressure test run:
// the console's copy at loglevel 5, vm.oom_dump_tasks=0), with the
// KERN_INFO lines the console did not get (dump_oom_summary(), the
// oom_reaper's) added as mm/oom_kill.c prints them.
const REPORT = `[   93.426809] node invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=-900
[   93.427543] CPU: 0 PID: 134 Comm: node Tainted: G           OE      6.1.0-57-cloud-amd64 #1  Debian 6.1.192-3
[   93.428139] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[   93.428695] Call Trace:
[   93.429612]  <TASK>
[   93.429932]  dump_stack_lvl+0x44/0x5c
[   93.430206]  dump_header+0x4c/0x22b
[   93.430206]  oom_kill_process.cold+0xb/0x10
[   93.430206]  out_of_memory+0x1fd/0x4c0
[   93.430206]  __alloc_pages_slowpath.constprop.0+0x67f/0xe70
[   93.430206]  __alloc_pages+0x305/0x330
[   93.430206]  __folio_alloc+0x17/0x50
[   93.430206]  ? policy_node+0x51/0x70
[   93.430206]  vma_alloc_folio+0x9c/0x370
[   93.430206]  __handle_mm_fault+0x92f/0xfa0
[   93.430206]  handle_mm_fault+0xdb/0x2d0
[   93.430206]  do_user_addr_fault+0x191/0x560
[   93.430206]  exc_page_fault+0x70/0x170
[   93.430206]  asm_exc_page_fault+0x22/0x30
[   93.435837] RIP: 0033:0x7fd9a70990cc
[   93.435837] Code: e9 42 14 c0 b3 12 00 00 4d 89 48 ff 4d 8b 8d 58 02 00 00 4d 89 48 07 4d 89 48 0f 49 8b 95 90 01 00 00 49 89 50 17 49 89 50 1f <49> 89 50 27 49 89 50 2f 48 bf a9 45 15 c0 b3 12 00 00 48 8b 77 1f
[   93.435837] RSP: 002b:00007fff90413e38 EFLAGS: 00000202
[   93.435837] RAX: 00003a7c08e6d921 RBX: 00000868ac23cb01 RCX: 00007fd9a7098700
[   93.435837] RDX: 0000350ec84404e9 RSI: 000019f3d8f4ece9 RDI: 000019f3d8f4ede1
[   93.435837] RBP: 00007fff90413e88 R08: 00003a7c08e6dfd9 R09: 0000350ec8440259
[   93.435837] R10: 00007fff90413a40 R11: 0000000000000421 R12: 000012b3c0141b61
[   93.435837] R13: 000000001bd1e530 R14: 000019f3d8f4ede1 R15: 0000000000000825
[   93.435837]  </TASK>
[   93.450678] Mem-Info:
[   93.451127] active_anon:44644 inactive_anon:406267 isolated_anon:0
[   93.451127]  active_file:0 inactive_file:1 isolated_file:0
[   93.451127]  unevictable:12867 dirty:0 writeback:0
[   93.451127]  slab_reclaimable:3184 slab_unreclaimable:3720
[   93.451127]  mapped:11672 shmem:16593 pagetables:3329
[   93.451127]  sec_pagetables:0 bounce:0
[   93.451127]  kernel_misc_reclaimable:0
[   93.451127]  free:13067 free_pcp:224 free_cma:0
[   93.452894] Node 0 active_anon:178576kB inactive_anon:1625068kB active_file:0kB inactive_file:4kB unevictable:51468kB isolated(anon):0kB isolated(file):0kB mapped:46688kB dirty:0kB writeback:0kB shmem:66372kB shmem_thp: 0kB shmem_pmdmapped: 0kB anon_thp: 1515520kB writeback_tmp:0kB kernel_stack:4048kB pagetables:13316kB sec_pagetables:0kB all_unreclaimable? yes
[   93.458550] Node 0 DMA free:7972kB boost:0kB min:348kB low:432kB high:516kB reserved_highatomic:0KB active_anon:812kB inactive_anon:6208kB active_file:0kB inactive_file:0kB unevictable:0kB writepending:0kB present:15992kB managed:15360kB mlocked:0kB bounce:0kB free_pcp:0kB local_pcp:0kB free_cma:0kB
[   93.459833] lowmem_reserve[]: 0 1909 1909 1909 1909
[   93.460102] Node 0 DMA32 free:44296kB boost:0kB min:44704kB low:55880kB high:67056kB reserved_highatomic:0KB active_anon:177344kB inactive_anon:1618440kB active_file:0kB inactive_file:4kB unevictable:51468kB writepending:0kB present:2080640kB managed:2010664kB mlocked:51468kB bounce:0kB free_pcp:896kB local_pcp:408kB free_cma:0kB
[   93.460804] lowmem_reserve[]: 0 0 0 0 0
[   93.461011] Node 0 DMA: 0*4kB 2*8kB (UM) 2*16kB (U) 0*32kB 0*64kB 2*128kB (UM) 0*256kB 1*512kB (U) 1*1024kB (M) 1*2048kB (M) 1*4096kB (M) = 7984kB
[   93.461706] Node 0 DMA32: 3*4kB (UE) 2*8kB (ME) 3*16kB (UME) 3*32kB (UME) 4*64kB (E) 3*128kB (UE) 0*256kB 2*512kB (UM) 1*1024kB (E) 2*2048kB (ME) 9*4096kB (UM) = 43820kB
[   93.467888] Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=1048576kB
[   93.468268] Node 0 hugepages_total=0 hugepages_free=0 hugepages_surp=0 hugepages_size=2048kB
[   93.468561] 16674 total pagecache pages
[   93.468679] 80 pages in swap cache
[   93.468773] Free swap  = 0kB
[   93.468844] Total swap = 1013008kB
[   93.468967] 524158 pages RAM
[   93.469040] 0 pages HighMem/MovableOnly
[   93.469133] 17652 pages reserved
[   93.470100] oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/,task=oomhog-child,pid=559,uid=0
[   93.470172] Out of memory: Killed process 559 (oomhog-child) total-vm:17836kB, anon-rss:15400kB, file-rss:0kB, shmem-rss:560kB, UID:0 pgtables:76kB oom_score_adj:0
[   93.480000] oom_reaper: reaped process 559 (oomhog-child), now anon-rss:0kB, file-rss:0kB, shmem-rss:560kB`.split('\n');

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
    assert.deepEqual(k.victims, [{ pid: 559, comm: 'oomhog-child', adj: 0 }]);
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
