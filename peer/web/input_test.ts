import assert from "node:assert/strict";
import { LineQueue, mergeLines } from "./input.ts";

Deno.test("a queued batch is dropped when its check fails at its turn", async () => {
  const queue = new LineQueue();
  let open = true;
  const first = queue.submit(["y"], () => open ? undefined : "no longer open");
  const iterator = queue[Symbol.asyncIterator]();
  assert.deepEqual(await iterator.next(), { done: false, value: "y" });
  assert.equal(await first, undefined);
  open = false;
  const second = queue.submit(["y"], () => open ? undefined : "no longer open");
  const third = queue.submit(["4111", "12/39", "1 Road"]);
  assert.deepEqual(await iterator.next(), { done: false, value: "4111" });
  assert.equal(await second, "no longer open");
  assert.equal(await third, undefined);
  assert.deepEqual(await iterator.next(), { done: false, value: "12/39" });
  queue.close();
  assert.deepEqual(await iterator.next(), { done: false, value: "1 Road" });
  assert.equal((await iterator.next()).done, true);
});

Deno.test("merged lines come in arrival order and end with the source marked ends", async () => {
  async function* stdin() {
    yield "register";
    await new Promise((resolve) => setTimeout(resolve, 20));
    yield "inventory";
  }
  const queue = new LineQueue();
  const merged = mergeLines([{ lines: queue }, { lines: stdin(), ends: true }]);
  const lines: string[] = [];
  const reading = (async () => {
    for await (const line of merged) lines.push(line);
  })();
  await new Promise((resolve) => setTimeout(resolve, 5));
  await queue.submit(["sell Lamp 25"]);
  await reading;
  queue.close();
  assert.deepEqual(lines, ["register", "sell Lamp 25", "inventory"]);
});

Deno.test("a batch's lines to feed first are decided when its turn comes", async () => {
  const queue = new LineQueue();
  let withdrawn = false;
  const before = () => withdrawn ? [""] : [];
  const iterator = queue[Symbol.asyncIterator]();
  const first = queue.submit(["browse"], undefined, before);
  assert.deepEqual(await iterator.next(), { done: false, value: "browse" });
  assert.equal(await first, undefined);
  // Queued while nothing was withdrawn; its turn comes after the withdrawal.
  const second = queue.submit(["sell Lamp 25"], undefined, before);
  withdrawn = true;
  assert.deepEqual(await iterator.next(), { done: false, value: "" });
  assert.deepEqual(await iterator.next(), { done: false, value: "sell Lamp 25" });
  assert.equal(await second, undefined);
  queue.close();
  assert.equal((await iterator.next()).done, true);
});
