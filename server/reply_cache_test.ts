import assert from "node:assert/strict";
import { ReplyCache } from "./reply_cache.ts";

Deno.test("reply cache answers a repeat within the TTL and not after", () => {
  const cache = new ReplyCache<string>({ cap: 10, ttl: 1_000 });
  cache.remember("a", ["one"], 0);
  assert.deepEqual(cache.get("a", 1_000), ["one"]);
  assert.equal(cache.get("a", 1_001), undefined);
  assert.equal(cache.get("b", 0), undefined);
});

Deno.test("reply cache drops expired entries as new ones arrive", () => {
  const cache = new ReplyCache<string>({ cap: 10, ttl: 1_000 });
  cache.remember("a", ["one"], 0);
  cache.remember("b", ["two"], 500);
  assert.equal(cache.size, 2);
  cache.remember("c", ["three"], 1_200);
  assert.equal(cache.size, 2, "a expired");
  assert.equal(cache.get("a", 1_200), undefined);
  assert.deepEqual(cache.get("b", 1_200), ["two"]);
});

Deno.test("reply cache keeps at most its cap, dropping the oldest first", () => {
  const cache = new ReplyCache<number>({ cap: 3, ttl: 60_000 });
  for (let i = 0; i < 5; i++) cache.remember(`k${i}`, [i], i);
  assert.equal(cache.size, 3);
  assert.equal(cache.get("k0", 5), undefined);
  assert.equal(cache.get("k1", 5), undefined);
  assert.deepEqual(cache.get("k4", 5), [4]);
});

Deno.test("reply cache replaces a key's replies, and the old queue entry evicts nothing", () => {
  const cache = new ReplyCache<string>({ cap: 2, ttl: 1_000 });
  cache.remember("a", ["first"], 0);
  cache.remember("a", ["second"], 900);
  cache.remember("b", ["b"], 950);
  assert.equal(cache.size, 2);
  // The stale queue slot of the first "a" is skipped; the cap then drops the current "a".
  cache.remember("c", ["c"], 1_100);
  assert.deepEqual(cache.get("a", 1_100), undefined, "over the cap, the oldest current goes");
  assert.deepEqual(cache.get("b", 1_100), ["b"]);
  assert.deepEqual(cache.get("c", 1_100), ["c"]);
});

Deno.test("reply cache stays bounded over many inserts (its queue is compacted)", () => {
  const cache = new ReplyCache<number>({ cap: 100, ttl: 50 });
  for (let i = 0; i < 20_000; i++) cache.remember(`k${i % 500}`, [i], i);
  assert.ok(cache.size <= 100);
  assert.deepEqual(cache.get("k499", 19_999), [19_999]);
});
