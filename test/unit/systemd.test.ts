// deploy/systemd/koffloadd.service: `systemd-analyze security --offline`
// must score its exposure at most MAX_EXPOSURE (the unit's sandboxing: a
// loosened unit fails here), with the capabilities koffloadd needs and no
// other (runtime-protection.test.ts runs systemd-analyze verify).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { needTool } from '../skip.js';

const UNIT = fileURLToPath(new URL('../../../deploy/systemd/koffloadd.service', import.meta.url));
/** systemd-analyze security's score of the unit as committed, 4.1 (lower is safer, 0-10), with a little room */
const MAX_EXPOSURE = 4.3;

describe('systemd: the koffloadd unit', () => {
  it(`scores at most ${MAX_EXPOSURE} in systemd-analyze security, keeping only the capabilities koffloadd needs`, function () {
    const bin = needTool(this, 'systemd-analyze', 'systemd');
    const r = spawnSync(bin, ['security', '--offline=yes', '--no-pager', UNIT], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const m = /Overall exposure level for koffloadd\.service: (\d+\.\d)/.exec(r.stdout);
    assert.ok(m, r.stdout);
    const score = Number(m[1]);
    assert.ok(score <= MAX_EXPOSURE, `exposure ${score} > ${MAX_EXPOSURE}:\n${r.stdout}`);
    const unit = readFileSync(UNIT, 'utf8');
    const caps = /^CapabilityBoundingSet=(.*)$/m.exec(unit)?.[1]?.split(/\s+/).sort();
    assert.deepEqual(caps, ['CAP_IPC_LOCK', 'CAP_NET_ADMIN', 'CAP_SYS_RESOURCE']);
    assert.match(unit, /^RestrictAddressFamilies=AF_NETLINK AF_INET AF_INET6 AF_UNIX$/m);
    assert.match(unit, /^MemoryMax=\S+$/m);
    assert.match(unit, /^NoNewPrivileges=yes$/m);
    // readiness: koffloadd's READY=1 (src/runtime/notify.ts, test/unit/notify.test.ts), from its main process only
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^NotifyAccess=main$/m);
  });
});
