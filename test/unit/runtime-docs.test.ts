// The docs list what the code defines: every coded error (with its fix)
// in docs/policy-guide.md, every metric in docs/metrics.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS } from '../../src/errors.js';
import { DaemonMetrics } from '../../src/runtime/metrics.js';
import { repoRoot } from '../../scripts/gen.js';

const doc = (name: string): string => readFileSync(join(repoRoot(), 'docs', name), 'utf8');

describe('runtime: docs', () => {
  it('policy-guide.md lists every error code with its solution', () => {
    const guide = doc('policy-guide.md');
    for (const [code, e] of Object.entries(ERRORS)) {
      assert.ok(guide.includes(`| \`${code}\` |`), `${code} missing from the error table`);
      assert.ok(guide.includes(e.solution.replace(/\|/g, '\\|')), `${code}: solution text differs`);
    }
  });

  it('policy-guide.md embeds the current example policy', () => {
    assert.ok(doc('policy-guide.md').includes(readFileSync(join(repoRoot(), 'examples', 'ktest-policy.ts'), 'utf8')));
  });

  it('metrics.md lists every koffload metric, and names the process metric families', async () => {
    const md = doc('metrics.md');
    const names = (await new DaemonMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
    const own = names.filter((n) => n.startsWith('koffload_'));
    assert.ok(own.length > 10);
    for (const n of own) assert.ok(md.includes(`\`${n}\``), `${n} missing from docs/metrics.md`);
    // the rest are prom-client's standard process metrics, documented by family
    for (const n of names.filter((x) => !own.includes(x))) {
      const family = n.split('_')[0]!;
      assert.ok(['process', 'nodejs'].includes(family), `${n}: neither koffload_ nor a standard process metric`);
      assert.ok(md.includes(`\`${family}_*\``), `${family}_* missing from docs/metrics.md`);
    }
  });
});
