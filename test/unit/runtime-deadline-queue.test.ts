// DeadlineQueue: every deadline of one clock behind one timer.
import assert from 'node:assert/strict';
import { DeadlineQueue } from '../../src/runtime/deadline.js';

const tick = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('runtime: DeadlineQueue', () => {
  it('expires deadlines in deadline order once the clock reaches them, not before, with one timer', async () => {
    let now = 0n;
    const q = new DeadlineQueue(() => now);
    const fired: number[] = [];
    for (const [d, id] of [[3_000_000n, 3], [1_000_000n, 1], [2_000_000n, 2], [9_000_000n, 9]] as const) q.add(d, () => fired.push(id));
    assert.equal(q.size, 4);
    const timers = (process as unknown as { getActiveResourcesInfo(): string[] }).getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await tick();
    assert.deepEqual(fired, [], 'the clock has not moved: nothing expires, the timer re-arms');
    now = 2_500_000n;
    await tick();
    assert.deepEqual(fired, [1, 2]);
    now = 10_000_000n;
    await tick(15);
    assert.deepEqual(fired, [1, 2, 3, 9]);
    assert.equal(q.size, 0);
    assert.ok(timers <= 1 + 1, 'one timer for all of them (mocha may hold one)');
  });

  it('a cancelled deadline never fires, wherever it sits in the heap', async () => {
    let now = 0n;
    const q = new DeadlineQueue(() => now);
    const fired: number[] = [];
    const tickets = Array.from({ length: 50 }, (_, i) => q.add(BigInt((i % 7) + 1) * 1_000_000n, () => fired.push(i)));
    for (let i = 0; i < 50; i += 3) tickets[i]!.cancel();
    tickets[0]!.cancel(); // twice is harmless
    now = 100_000_000n;
    await tick(10);
    const want = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 3 !== 0);
    assert.deepEqual([...fired].sort((a, b) => a - b), want);
    // in deadline order
    const order = fired.map((i) => (i % 7) + 1);
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
  });

  it('is shared per clock: one queue, one timer for every server on that clock', () => {
    const clock = (): bigint => 0n;
    assert.equal(DeadlineQueue.for(clock), DeadlineQueue.for(clock));
    assert.notEqual(DeadlineQueue.for(clock), DeadlineQueue.for(() => 0n));
  });
});
