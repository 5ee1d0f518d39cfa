import assert from "node:assert/strict";
import type { Clock } from "./clock.ts";
import { Wakeup } from "./wakeup.ts";

/** A manual clock: timers fire only when the test advances it. */
function manualClock() {
  let now = 1_000;
  let next = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const clock: Clock = {
    now: () => now,
    set: (callback, ms) => {
      timers.set(next, { at: now + ms, callback });
      return next++ as unknown;
    },
    clear: (handle) => void timers.delete(handle as number),
  };
  const advance = (ms: number) => {
    const until = now + ms;
    for (const [handle, timer] of [...timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > until) break;
      timers.delete(handle);
      now = Math.max(now, timer.at);
      timer.callback();
    }
    now = until;
  };
  return { clock, advance, pending: () => timers.size };
}

Deno.test("Wakeup fires once at the armed deadline with the clock's time", () => {
  const { clock, advance } = manualClock();
  const fired: number[] = [];
  using wakeup = new Wakeup((at) => fired.push(at), { clock });
  wakeup.arm(1_500);
  advance(499);
  assert.deepEqual(fired, []);
  advance(1);
  assert.deepEqual(fired, [1_500]);
  advance(10_000);
  assert.deepEqual(fired, [1_500]);
  assert.equal(wakeup.armedFor, undefined);
});

Deno.test("Wakeup re-armed for a new deadline drops the old timer; the same deadline sets none", () => {
  const { clock, advance, pending } = manualClock();
  const fired: number[] = [];
  using wakeup = new Wakeup((at) => fired.push(at), { clock });
  wakeup.arm(2_000);
  wakeup.arm(2_000);
  assert.equal(pending(), 1);
  wakeup.arm(1_200);
  assert.equal(pending(), 1);
  advance(1_500);
  assert.deepEqual(fired, [1_200]);
  wakeup.arm(undefined);
  assert.equal(pending(), 0);
});

Deno.test("Wakeup disposed never fires again", () => {
  const { clock, advance } = manualClock();
  const fired: number[] = [];
  const wakeup = new Wakeup((at) => fired.push(at), { clock });
  wakeup.arm(1_100);
  wakeup[Symbol.dispose]();
  wakeup.arm(1_200);
  advance(1_000);
  assert.deepEqual(fired, []);
});
