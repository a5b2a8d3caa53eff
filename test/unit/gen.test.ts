// The generator: committed outputs match the sources, and the check really
// fails on a hand edit, a missing file and a stale file.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  PB_DIR,
  POLICY_PATHS,
  PROTO_TS_DIR,
  SPEC_PATH,
  UAPI_PATH,
  WIRE_TS_PATH,
  checkGenerated,
  generate,
  parseSpec,
  protoUpperSnake,
  repoRoot,
  writeGenerated,
} from '../../scripts/gen.js';
import { KOFFLOAD, KOFFLOAD_TEST } from '../../src/generated/wire.js';

const root = repoRoot();

/** A scratch copy of the sources and the generated files. */
function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'koffload-gen-'));
  cpSync(join(root, 'proto'), join(dir, 'proto'), { recursive: true });
  for (const rel of generate(root).keys()) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    cpSync(join(root, rel), join(dir, rel));
  }
  return dir;
}

describe('gen', () => {
  const dirs: string[] = [];
  const tmp = (): string => {
    const d = scratch();
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('committed generated files match the sources (npm run gen:check)', () => {
    assert.deepEqual(checkGenerated(root), []);
  });

  it('is deterministic', () => {
    assert.deepEqual([...generate(root)], [...generate(root)]);
  });

  it('reports a hand-edited file as changed', () => {
    const dir = tmp();
    const path = join(dir, UAPI_PATH);
    writeFileSync(path, readFileSync(path, 'utf8').replace('KOFFLOAD_NAME_MAX\t\t32', 'KOFFLOAD_NAME_MAX\t\t33'));
    assert.deepEqual(checkGenerated(dir), [{ path: UAPI_PATH, reason: 'changed' }]);
  });

  it('reports a spec change as drift of every output that depends on it', () => {
    const dir = tmp();
    const spec = join(dir, SPEC_PATH);
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('value: 4096, doc: "bytes of a request', 'value: 8192, doc: "bytes of a request'));
    const drift = checkGenerated(dir).map((d) => d.path);
    assert.ok(drift.includes(UAPI_PATH));
    assert.ok(drift.includes(WIRE_TS_PATH));
    assert.ok(!drift.includes(POLICY_PATHS.koffload!.path), 'the policy names the define, not the number');
  });

  it('reports missing and stale files, and gen repairs both', () => {
    const dir = tmp();
    rmSync(join(dir, WIRE_TS_PATH));
    mkdirSync(join(dir, PB_DIR), { recursive: true });
    const stale = `${PB_DIR}/gone_pb.h`;
    writeFileSync(join(dir, stale), '/* Generated from proto/gone.proto by `npm run gen` (scripts/gen.ts). */\n');
    const handWritten = `${PB_DIR}/mine_pb.h`;
    writeFileSync(join(dir, handWritten), '/* not generated */\n');
    assert.deepEqual(checkGenerated(dir), [
      { path: WIRE_TS_PATH, reason: 'missing' },
      { path: stale, reason: 'stale' },
    ]);
    const { written, removed } = writeGenerated(dir);
    assert.deepEqual(written, [WIRE_TS_PATH]);
    assert.deepEqual(removed, [stale]);
    assert.ok(existsSync(join(dir, handWritten)), 'files without the marker are left alone');
    assert.deepEqual(checkGenerated(dir), []);
  });

  it('writes protobuf field numbers and enum values for a new .proto', () => {
    const dir = tmp();
    writeFileSync(
      join(dir, 'proto', 'zz_demo.proto'),
      `syntax = "proto3";
package koffload.demo;
enum Color { COLOR_UNSPEC = 0; RED = 1; }
message HTTPProbe {
  bytes data_len = 3;
  repeated uint32 ids = 5;
  map<string, uint64> tags = 6;
  oneof pick { uint32 a = 7; string b = 8; }
  message Inner { int32 deep_field = 1; enum Kind { KIND_X = 4; } }
}
`,
    );
    const drift = checkGenerated(dir);
    assert.deepEqual(drift, [
      { path: `${PB_DIR}/zz_demo_pb.h`, reason: 'missing' },
      { path: `${PROTO_TS_DIR}/zz_demo.ts`, reason: 'missing' },
    ]);
    const h = generate(dir).get(`${PB_DIR}/zz_demo_pb.h`)!;
    assert.match(h, /^\/\* SPDX-License-Identifier: GPL-2.0-only \*\/\n\/\*\n \* Generated from proto\/zz_demo.proto by `npm run gen`/);
    assert.match(h, /#ifndef _KOFFLOAD_GENERATED_ZZ_DEMO_PB_H/);
    assert.match(h, /#define DEMO_COLOR_RED\t+1\n/);
    assert.match(h, /#define DEMO_HTTP_PROBE_DATA_LEN_FIELD\t+3\t\/\* bytes \*\//);
    assert.match(h, /#define DEMO_HTTP_PROBE_IDS_FIELD\t+5\t\/\* repeated uint32 \*\//);
    assert.match(h, /#define DEMO_HTTP_PROBE_TAGS_FIELD\t+6\t\/\* map<string, uint64> \*\//);
    assert.match(h, /#define DEMO_HTTP_PROBE_B_FIELD\t+8/);
    assert.match(h, /#define DEMO_HTTP_PROBE_INNER_DEEP_FIELD_FIELD\t+1/);
    assert.match(h, /#define DEMO_HTTP_PROBE_INNER_KIND_KIND_X\t+4/);
  });

  it('generates the ktest field numbers the kernel test module uses', () => {
    const h = readFileSync(join(root, PB_DIR, 'ktest_pb.h'), 'utf8');
    assert.match(h, /#define KTEST_ECHO_REQUEST_DATA_FIELD\t+1\t/);
    assert.match(h, /#define KTEST_ECHO_REQUEST_SEQ_FIELD\t+2\t/);
  });

  it('turns names into C names', () => {
    assert.equal(protoUpperSnake('EchoRequest'), 'ECHO_REQUEST');
    assert.equal(protoUpperSnake('HTTPProxy'), 'HTTP_PROXY');
    assert.equal(protoUpperSnake('valid_blocks'), 'VALID_BLOCKS');
  });

  it('rejects a spec with unknown keys, unknown limits or colliding names', () => {
    const text = readFileSync(join(root, SPEC_PATH), 'utf8');
    assert.throws(() => parseSpec(text.replace('    version: 1\n    doc: Kernel', '    version: 1\n    colour: red\n    doc: Kernel')), /unknown key 'colour'/);
    assert.throws(() => parseSpec(text.replace('max-len: name-max', 'max-len: name-maxx')), /unknown limit 'name-maxx'/);
    assert.throws(() => parseSpec(text.replace('{name: subsys-id, type: u32}', '{name: subsys-name, type: u32}')), /duplicate name 'subsys-name'/);
  });

  it('generates the header, policies and TS constants the brief specifies', () => {
    const files = generate(root);
    const uapi = files.get(UAPI_PATH)!;
    assert.ok(uapi.startsWith('/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */\n'));
    for (const s of [
      '#define KOFFLOAD_FAMILY_NAME\t\t"koffload"',
      'KOFFLOAD_OUTCOME_MAX = (__KOFFLOAD_OUTCOME_MAX - 1)',
      'KOFFLOAD_REQ_FLAG_HAS_DEFAULT = 4,',
      '#define KOFFLOAD_REQ_FLAG_ALL\t0x7',
      'KOFFLOAD_TEST_A_RUN_ID,',
      'KOFFLOAD_TEST_CMD_RUN,',
      '#define KOFFLOAD_TEST_THREADS_MAX\t64',
    ]) {
      assert.ok(uapi.includes(s), `uapi header lacks ${JSON.stringify(s)}`);
    }
    const policy = files.get(POLICY_PATHS.koffload!.path)!;
    assert.match(files.get(POLICY_PATHS.koffload_test!.path)!, /static const struct nla_policy koffload_test_nl_policy\[KOFFLOAD_TEST_A_MAX \+ 1\]/);
    assert.match(policy, /\[KOFFLOAD_A_SUBSYS_NAME\]\t+= \{ \.type = NLA_NUL_STRING, \.len = KOFFLOAD_NAME_MAX - 1 \},/);
    assert.match(policy, /\[KOFFLOAD_A_PAYLOAD\]\t+= \{ \.type = NLA_BINARY, \.len = KOFFLOAD_PAYLOAD_MAX \},/);
    assert.match(policy, /\[KOFFLOAD_A_STATUS\]\t+= NLA_POLICY_FULL_RANGE\(NLA_U32, &koffload_status_range\),/);
    assert.doesNotMatch(policy, /KOFFLOAD_A_PAD\]/, 'pad attributes get no policy entry');
    assert.equal(KOFFLOAD.attr.subsysName, 1);
    assert.equal(KOFFLOAD.outcomeNames[KOFFLOAD.outcome.noHandler], 'no-handler');
    assert.equal(KOFFLOAD_TEST.attrSpec.threads.max, KOFFLOAD_TEST.limits.threadsMax);
  });
});
