import assert from "node:assert/strict";
import { CommitQueue, StoreUnavailable } from "./commit_queue.ts";

/** Writes of one batch: key → value (undefined deletes). */
type Batch = [string, string | undefined][];

/**
 * A store in memory whose commits can be made to fail, before or after
 * writing (the real stores' faults are tested with real KV files and a real
 * PostgreSQL in tests/e2e; this checks the queue's own logic).
 */
class FaultyStore {
  readonly data = new Map<string, string>();
  readonly commits: Batch[] = [];
  /** Failures to come: "before" writes nothing, "after" writes and then throws. */
  faults: ("before" | "after")[] = [];
  /** Delay of each commit, so several are in flight at once. */
  delay = 0;

  async apply(batch: Batch): Promise<void> {
    if (this.delay > 0) await new Promise((resolve) => setTimeout(resolve, this.delay));
    const fault = this.faults.shift();
    if (fault === "before") throw new Error("disk full\n    at stack line");
    for (const [key, value] of batch) {
      if (value === undefined) this.data.delete(key);
      else this.data.set(key, value);
    }
    this.commits.push(batch);
    if (fault === "after") throw new Error("connection lost after commit");
  }
}

Deno.test("batches are reported in order, each after it and those before it are stored", async () => {
  const store = new FaultyStore();
  store.delay = 5;
  const queue = new CommitQueue<Batch>({ apply: (batch) => store.apply(batch) });
  const reported: number[] = [];
  const seen: number[] = [];
  const all = [0, 1, 2, 3, 4].map((i) =>
    queue.push([[`k${i}`, `v${i}`]]).then(() => {
      reported.push(i);
      // Everything up to this batch is in the store when it is reported.
      for (let j = 0; j <= i; j++) assert.ok(store.data.has(`k${j}`));
      seen.push(store.commits.length);
    })
  );
  await Promise.all(all);
  assert.deepEqual(reported, [0, 1, 2, 3, 4]);
  assert.deepEqual(queue.pending, 0);
});

Deno.test("a failed commit is tried again, and the later commits are applied again behind it", async () => {
  const store = new FaultyStore();
  store.delay = 2;
  let stalls = 0, recoveries = 0;
  const queue = new CommitQueue<Batch>({
    apply: (batch) => store.apply(batch),
    backoff: 5,
    onStall: () => stalls++,
    onRecover: () => recoveries++,
  });
  // The first commit fails twice; the second (same key, newer value) is in flight meanwhile.
  store.faults = ["before"];
  const first = queue.push([["alice", "old"]]);
  const second = queue.push([["alice", "new"]]);
  store.faults.push("before");
  let secondReportedEarly = false;
  second.then(() => secondReportedEarly = !store.data.has("alice"));
  await Promise.all([first, second]);
  assert.deepEqual(store.data.get("alice"), "new");
  assert.deepEqual(secondReportedEarly, false);
  assert.deepEqual(stalls, 1);
  assert.deepEqual(recoveries, 1);
});

Deno.test("a commit that failed after writing is not doubled when tried again", async () => {
  const store = new FaultyStore();
  const queue = new CommitQueue<Batch>({ apply: (batch) => store.apply(batch), backoff: 5 });
  store.faults = ["after"];
  await queue.push([["ledger/tx1", "sale 25"]]);
  await queue.push([["ledger/tx2", "sale 30"]]);
  // Applied twice, but a record set by key is one record.
  assert.deepEqual([...store.data.keys()], ["ledger/tx1", "ledger/tx2"]);
  assert.deepEqual(store.commits.filter((c) => c[0]![0] === "ledger/tx1").length, 2);
});

Deno.test("past the bound the queue gives up and reports nothing behind the failure", async () => {
  const store = new FaultyStore();
  const queue = new CommitQueue<Batch>({
    apply: (batch) => store.apply(batch),
    retryFor: 200,
    backoff: 10,
    maxBackoff: 40,
  });
  store.faults = Array(1000).fill("before");
  const first = queue.push([["a", "1"]]);
  const second = queue.push([["b", "2"]]);
  let error: StoreUnavailable | undefined;
  await first.catch((e) => error = e);
  assert.ok(error instanceof StoreUnavailable);
  await assert.rejects(second, StoreUnavailable);
  assert.ok(error.stalledMs >= 200, `gave up after ${error.stalledMs} ms`);
  // One line: the store's message without its stack.
  assert.deepEqual(error.message.includes("\n"), false);
  assert.ok(error.message.includes("disk full"), error.message);
  assert.deepEqual(store.data.size, 0);
  await assert.rejects(queue.push([["c", "3"]]), StoreUnavailable);
});

Deno.test("settled waits for every batch pushed so far", async () => {
  const store = new FaultyStore();
  store.delay = 5;
  const queue = new CommitQueue<Batch>({ apply: (batch) => store.apply(batch), backoff: 5 });
  await queue.settled();
  store.faults = ["before"];
  void queue.push([["a", "1"]]);
  void queue.push([["b", "2"]]);
  await queue.settled();
  assert.deepEqual(store.data.size, 2);
});

Deno.test("a commit that never finishes counts as failed, and the queue gives up at the bound", async () => {
  let calls = 0;
  const queue = new CommitQueue<Batch>({
    // A database cut off without a word: the commit neither succeeds nor fails.
    apply: () => {
      calls++;
      return new Promise(() => {});
    },
    retryFor: 150,
    backoff: 10,
  });
  const started = Date.now();
  await assert.rejects(queue.push([["a", "1"]]), StoreUnavailable);
  const took = Date.now() - started;
  assert.ok(took >= 150 && took < 5_000, `gave up after ${took} ms`);
  assert.ok(calls >= 1);
});
