import assert from "node:assert/strict";
import { canTransition, holdsReservation, isOpen, TRANSITIONS } from "./request_states.ts";

Deno.test("a new search starts searching and nowhere else", () => {
  assert.ok(canTransition(undefined, "searching"));
  assert.ok(!canTransition(undefined, "found"));
});

Deno.test("the lifecycle's forward steps are allowed, and going back is not", () => {
  assert.ok(canTransition("searching", "negotiating"));
  assert.ok(canTransition("negotiating", "found"));
  assert.ok(canTransition("found", "buying"));
  assert.ok(canTransition("buying", "bought"));
  assert.ok(!canTransition("found", "searching"));
  assert.ok(!canTransition("buying", "found"));
  assert.ok(!canTransition("negotiating", "not_available"));
});

Deno.test("ended searches change no more; every open one can still be cancelled", () => {
  for (const ended of ["not_available", "not_found", "cancelled"] as const) {
    assert.deepEqual(TRANSITIONS[ended], []);
    assert.ok(!isOpen(ended));
  }
  for (const open of ["searching", "negotiating", "found", "buying"] as const) {
    assert.ok(isOpen(open));
    assert.ok(canTransition(open, "cancelled"), open);
  }
  assert.ok(!isOpen("bought"));
  assert.ok(!canTransition("bought", "cancelled"));
});

Deno.test("only found and buying hold the seller's item", () => {
  assert.deepEqual(
    (Object.keys(TRANSITIONS) as (keyof typeof TRANSITIONS)[]).filter(holdsReservation),
    ["found", "buying"],
  );
});
