// The koffload patch to F2FS (kernel-shim/f2fs/patches/) on a real F2FS in
// the guest (`npm run test:f2fs`, scripts/f2fs-test.sh): a bound policy's
// ranking steers foreground GC, its class bits send moved blocks to the hot
// data log, the kernel tells it where every victim's blocks went, the
// background thread asks it with a deadline, and whatever the policy does
// (publishes nothing, garbage, dies mid-run) the filesystem keeps working on
// F2FS's own choices. A minimal policy on KoffloadClient plays the daemon.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

import { KoffloadClient, type KernelRequest } from '../../src/kernel/client.js';
import { KOFFLOAD } from '../../src/generated/wire.js';
import { MovedRequest, Op, Ranking, VictimRequest, VictimResponse } from '../../src/generated/proto/f2fs.js';
import { skipBecause } from '../skip.js';

const DEV = 'nullb0';
const MNT = '/mnt/f2fs-test';
const CFG = `/sys/kernel/config/nullb/${DEV}`;
const SYS = `/sys/fs/f2fs/${DEV}`;
const STATS = `/sys/kernel/debug/koffload_f2fs/${DEV}/stats`;
const NULL_SEGNO = 0xffffffff;
/** the fill's seed: every run continues its write sequence, so it must be the same */
const SEED = '1';
/** CURSEG_* log types */
const HOT_DATA = 0;

const sh = (cmd: string): string => execFileSync('sh', ['-c', cmd], { encoding: 'utf8' });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function stats(): Record<string, number> {
  return Object.fromEntries(
    readFileSync(STATS, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(' '))
      .map(([k, v]) => [k!, Number(v)]),
  );
}

/** (type, valid) of every segment, from segment_info. */
function segments(): Array<{ segno: number; type: number; valid: number }> {
  const out: Array<{ segno: number; type: number; valid: number }> = [];
  for (const line of readFileSync(`/proc/fs/f2fs/${DEV}/segment_info`, 'utf8').split('\n').slice(2)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 2) continue;
    let segno = Number(f[0]);
    for (const cell of f.slice(1)) {
      const [t, v] = cell.split('|').map(Number);
      out.push({ segno: segno++, type: t!, valid: v! });
    }
  }
  return out;
}

/** The device number as the kernel puts it in requests (new_encode_dev). */
function devNumber(): number {
  const [maj, min] = readFileSync(`/sys/block/${DEV}/dev`, 'utf8').trim().split(':').map(Number);
  return (min! & 0xff) | (maj! << 8) | ((min! & ~0xff) << 12);
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};

/** How the test policy answers. */
interface Behaviour {
  /** publish a greedy ranking (false: publish nothing) */
  rank: boolean;
  /** publish this instead of a ranking */
  garbage?: Buffer;
  /** class bits for every file chunk seen: 0b11 sends every moved block to the hot log */
  classBits?: number;
}

class TestPolicy {
  notices: Array<ReturnType<typeof MovedRequest.decode>> = [];
  victimAdvisories: Array<ReturnType<typeof VictimRequest.decode>> = [];
  bgCalls = 0;
  published = new Set<string>();

  private constructor(
    readonly client: KoffloadClient,
    readonly subsysId: number,
    public behaviour: Behaviour,
  ) {}

  /** policies not yet closed: a failed test must not leave f2fs_gc bound for the next */
  static readonly live = new Set<TestPolicy>();

  static async start(behaviour: Behaviour): Promise<TestPolicy> {
    const client = await KoffloadClient.open();
    const { subsysId } = await client.bind({ name: 'f2fs_gc' });
    const p = new TestPolicy(client, subsysId, behaviour);
    client.on('request', (req: KernelRequest) => void p.onRequest(req));
    TestPolicy.live.add(p);
    return p;
  }

  private async publishRanking(): Promise<void> {
    const key = Buffer.concat([Buffer.from('r'), u32(devNumber())]);
    if (this.behaviour.garbage) {
      await this.client.publish(this.subsysId, key, this.behaviour.garbage, 60_000);
      return;
    }
    if (!this.behaviour.rank) return;
    // greedy on data segments: the emptiest first
    const victims = segments()
      .filter((s) => s.type <= 2 && s.valid > 0 && s.valid < 512)
      .sort((a, b) => a.valid - b.valid || a.segno - b.segno)
      .slice(0, 32)
      .map((s) => ({ segno: s.segno, valid: s.valid, seg_type: s.type }));
    await this.client.publish(this.subsysId, key, Buffer.from(Ranking.encode({ gc_seq: 0n, victims })), 60_000);
  }

  private async onRequest(req: KernelRequest): Promise<void> {
    try {
      if (req.op === Op.OP_MOVED) {
        const n = MovedRequest.decode(req.payload);
        this.notices.push(n);
        if (this.behaviour.classBits !== undefined) {
          for (const r of n.runs) {
            const chunk = r.first_index >>> 14;
            const k = `${r.ino}/${chunk}`;
            if (this.published.has(k)) continue;
            this.published.add(k);
            const key = Buffer.concat([Buffer.from('c'), u32(devNumber()), u32(r.ino), u32(chunk)]);
            const bits = this.behaviour.classBits & 3;
            await this.client.publish(this.subsysId, key, Buffer.alloc(4096, bits | (bits << 2) | (bits << 4) | (bits << 6)), 60_000);
          }
        }
        if (n.last) await this.publishRanking();
      } else if (req.op === Op.OP_VICTIM) {
        const v = VictimRequest.decode(req.payload);
        if (req.flags & KOFFLOAD.reqFlag.advisory) {
          this.victimAdvisories.push(v);
          await this.publishRanking();
        } else {
          // the background thread's call: the emptiest data segment
          this.bgCalls++;
          const best = segments()
            .filter((s) => s.type <= 2 && s.valid > 0 && s.valid < 512)
            .sort((a, b) => a.valid - b.valid)[0];
          if (best) this.client.reply(req.reqId, 'ok', VictimResponse.encode({ segno: best.segno }));
          else this.client.reply(req.reqId, 'decline');
        }
      }
    } catch (err) {
      process.stderr.write(`test policy: ${String(err)}\n`);
    }
  }

  close(): void {
    if (!TestPolicy.live.delete(this)) return;
    this.client.close();
  }
}

/**
 * Runs the workload in its own process, the event loop free meanwhile: the
 * test policy lives in this process and must answer while it runs.
 */
function workload(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('workload', ['--dist', 'hotcold:90/10', ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`workload ${args.join(' ')} exited ${code}`))));
  });
}

describe('f2fs_gc: GC advice on a real F2FS (patched f2fs.ko)', function () {
  this.timeout(600_000);
  let mountedConfigfs = false;

  before(function () {
    if (process.env.KOFFLOAD_F2FS_TEST !== '1') skipBecause(this, 'needs the F2FS guest of scripts/f2fs-test.sh');
    if (!existsSync('/sys/kernel/config/nullb')) {
      sh('mount -t configfs none /sys/kernel/config');
      mountedConfigfs = true;
    }
    if (!existsSync('/sys/kernel/config/nullb')) throw new Error('null_blk has no configfs directory');
  });

  beforeEach(async () => {
    // a fresh 256 MiB filesystem in lfs mode, greedy, 80% full
    sh(`[ -d ${CFG} ] || mkdir ${CFG}; echo 1 >${CFG}/memory_backed; echo 4096 >${CFG}/blocksize; echo 256 >${CFG}/size; echo 1 >${CFG}/power`);
    sh(`mkfs.f2fs -f /dev/${DEV} >/dev/null`);
    mkdirSync(MNT, { recursive: true });
    sh(`mount -t f2fs -o mode=lfs /dev/${DEV} ${MNT}`);
    writeFileSync(`${SYS}/gc_idle`, '2');
    writeFileSync(`${SYS}/iostat_enable`, '1');
    await workload('fill', MNT, '80', SEED);
  });

  // the harness unloads configfs.ko after the suite: it must not stay mounted
  after(() => {
    if (mountedConfigfs) sh('umount /sys/kernel/config');
  });

  afterEach(() => {
    for (const p of TestPolicy.live) p.close();
    sh(`umount ${MNT}; echo 0 >${CFG}/power; rmdir ${CFG}`);
  });

  it('takes the ranked victims, moves blocks by class, and says where they went', async () => {
    const p = await TestPolicy.start({ rank: true, classBits: 3 });
    try {
      const before = stats();
      await workload('run', MNT, '60000', SEED);
      await sleep(200);
      const d = Object.fromEntries(Object.entries(stats()).map(([k, v]) => [k, v - (before[k] ?? 0)]));
      console.log(`      stats: ${JSON.stringify(d)}; notices seen ${p.notices.length}, victim advisories ${p.victimAdvisories.length}`);
      assert.ok(d.victim_advised! > 0, 'no victim was taken from the ranking');
      assert.ok(d.notices_sent! > 0 && p.notices.length > 0, 'no notice of moved blocks');
      assert.equal(d.notices_dropped, 0);
      assert.ok(d.blocks_hot! > 0, 'no block went to the hot log');
      const advised = p.notices.filter((n) => n.from_advice);
      assert.ok(advised.length > 0, 'notices say whether the victim came from advice');
      // where the kernel said they went: the hot data log, as the class bits asked
      const runs = p.notices.flatMap((n) => n.runs).filter((r) => r.dest_segno !== NULL_SEGNO);
      const hot = runs.filter((r) => r.dest_type === HOT_DATA).reduce((a, r) => a + r.count, 0);
      const all = runs.reduce((a, r) => a + r.count, 0);
      assert.ok(hot / all > 0.5, `only ${hot} of ${all} moved blocks went to the hot log`);
      // the filesystem is intact
      sh(`sync; ls ${MNT} >/dev/null`);
    } finally {
      p.close();
    }
  });

  it('falls back to its own choice without advice, with a malformed ranking, and when the policy dies', async () => {
    // bound, publishing nothing
    let p = await TestPolicy.start({ rank: false });
    let before = stats();
    await workload('run', MNT, '20000', SEED);
    let s = stats();
    assert.ok(s.victim_fallback_no_advice! - before.victim_fallback_no_advice! > 0, 'no fallback counted without advice');
    assert.equal(s.victim_advised! - before.victim_advised!, 0);
    assert.ok(p.victimAdvisories.length > 0, 'the kernel asked for fresh advice');
    assert.ok(p.victimAdvisories.every((v) => v.kernel_victim !== NULL_SEGNO), 'with its own choice');
    // garbage where the ranking should be
    p.behaviour = { rank: false, garbage: Buffer.from([0x12, 0xff, 0xff, 0xff]) };
    await p.client.publish(p.subsysId, Buffer.concat([Buffer.from('r'), u32(devNumber())]), p.behaviour.garbage!, 60_000);
    before = stats();
    await workload('run', MNT, '20000', SEED);
    s = stats();
    assert.ok(s.victim_fallback_malformed! - before.victim_fallback_malformed! > 0, 'a malformed ranking was not counted');
    // the policy dies mid-run: its binding and its cache go, F2FS carries on
    p.close();
    p = await TestPolicy.start({ rank: true });
    const running = workload('run', MNT, '20000', SEED);
    await sleep(500);
    p.close();
    await running; // rejects if the workload failed when its policy died
    before = stats();
    await workload('run', MNT, '20000', SEED);
    s = stats();
    assert.equal(s.victim_advised! - before.victim_advised!, 0, 'advice survived its policy');
    assert.ok(s.victim_fallback_no_advice! - before.victim_fallback_no_advice! > 0);
    sh(`sync; ls ${MNT} >/dev/null`);
  });

  it('lets the background GC thread ask the policy, with a deadline, when the device is idle', async () => {
    const p = await TestPolicy.start({ rank: true });
    try {
      await workload('run', MNT, '20000', SEED);
      // background GC on an idle device within a second
      for (const [k, v] of Object.entries({ gc_idle: 2, idle_interval: 1, gc_min_sleep_time: 100, gc_max_sleep_time: 200, gc_no_gc_sleep_time: 200 })) {
        writeFileSync(`${SYS}/${k}`, String(v));
      }
      const before = stats();
      // The thread sleeps gc_min_sleep_time as it was at mount (30 s), and
      // after a round without a victim no_gc_sleep_time (300 s): the new
      // times apply from its next wake-up. gc_urgent=1 wakes it now (an
      // urgent round, which never asks the policy); back at 0 its next
      // rounds are the background ones that do.
      writeFileSync(`${SYS}/gc_urgent_sleep_time`, '100');
      writeFileSync(`${SYS}/gc_urgent`, '1');
      await sleep(300);
      writeFileSync(`${SYS}/gc_urgent`, '0');
      const taken = (x: Record<string, number>): number => x.victim_advised! + x.bg_rejected! - before.victim_advised! - before.bg_rejected!;
      for (let i = 0; i < 100; i++) {
        const now = stats();
        if (now.bg_served! > before.bg_served! && taken(now) > 0) break;
        await sleep(100);
      }
      const s = stats();
      console.log(
        `      background: calls ${s.bg_calls! - before.bg_calls!}, served ${s.bg_served! - before.bg_served!}, rejected ${s.bg_rejected! - before.bg_rejected!}; policy answered ${p.bgCalls}`,
      );
      assert.ok(s.bg_served! - before.bg_served! > 0, 'the background thread never took the policy\'s victim');
      assert.ok(p.bgCalls > 0);
      // the answer went to the victim selection that followed, advised or rejected there
      assert.ok(taken(s) > 0, 'no victim selection took the background answer');
    } finally {
      writeFileSync(`${SYS}/gc_max_sleep_time`, '60000');
      p.close();
    }
  });
});
