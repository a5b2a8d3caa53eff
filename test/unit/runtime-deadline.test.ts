// The pure deadline module: arithmetic, Node's timer limit, and the
// deadline AbortSignal driven by an injected clock.
import assert from 'node:assert/strict';
import { MAX_TIMER_MS, cannotMeet, deadlineIn, deadlineSignal, timerDelayMs } from '../../src/runtime/deadline.js';

describe('runtime: deadlines', () => {
  it('timerDelayMs rounds up and clamps to Node\'s 2^31-1 ms timer limit', () => {
    assert.equal(timerDelayMs(10n, 20n), 0);
    assert.equal(timerDelayMs(1_000_001n, 0n), 2);
    assert.equal(timerDelayMs(1_000_000n, 0n), 1);
    assert.equal(timerDelayMs(BigInt(MAX_TIMER_MS) * 10n * 1_000_000n, 0n), MAX_TIMER_MS);
  });

  it('cannotMeet compares the time left with the budget', () => {
    assert.equal(cannotMeet(100n, 50n, 60n), true);
    assert.equal(cannotMeet(100n, 50n, 50n), false);
    assert.equal(deadlineIn(2, 5n), 2_000_005n);
  });

  it('deadlineSignal aborts once the clock reaches the deadline, not before', async () => {
    let now = 0n;
    const ds = deadlineSignal(1_000_000n, () => now);
    assert.equal(ds.signal.aborted, false);
    await new Promise((r) => setTimeout(r, 5));
    // the timer fired but the injected clock has not moved: re-armed
    assert.equal(ds.signal.aborted, false);
    now = 1_000_000n;
    await new Promise<void>((r) => ds.signal.addEventListener('abort', () => r(), { once: true }));
    assert.equal((ds.signal.reason as { code?: string }).code, 'ETIMEDOUT');
    ds.dispose();
  });

  it('deadlineSignal is aborted at once for a past deadline; dispose stops it', () => {
    assert.equal(deadlineSignal(5n, () => 10n).signal.aborted, true);
    const ds = deadlineSignal(BigInt(Number.MAX_SAFE_INTEGER) * 1000n, () => 0n);
    ds.dispose();
    assert.equal(ds.signal.aborted, false);
  });
});
