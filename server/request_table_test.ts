import assert from "node:assert/strict";
import type { RequestRecord } from "./records.ts";
import { NEVER, RequestTable } from "./request_table.ts";

function search(id: string, buyer = "bea", buyerRq = "1"): RequestRecord {
  return {
    id,
    buyer,
    buyerRq,
    item: "Laptop",
    description: "any",
    maxPrice: 500,
    createdAt: 0,
    updatedAt: 0,
    state: "searching",
    deadline: 1_000,
    contacted: 2,
  };
}

const table = () => new RequestTable({ undelivered: (record) => record.shipped === false });

Deno.test("request table finds a search by id, by buyer and RQ#, and by RQ# alone", () => {
  const requests = table();
  requests.add(search("S1", "ann", "1"));
  requests.add(search("S2", "bea", "1"));
  assert.equal(requests.get("S1")?.record.buyer, "ann");
  assert.equal(requests.byBuyerRq("bea", "1")?.record.id, "S2");
  assert.equal(requests.byBuyerRq("bea", "2"), undefined);
  assert.deepEqual([...requests.withBuyerRq("1")].map((r) => r.record.id), ["S1", "S2"]);
  requests.forget(requests.get("S1")!);
  assert.equal(requests.get("S1"), undefined);
  assert.deepEqual([...requests.withBuyerRq("1")].map((r) => r.record.id), ["S2"]);
  assert.equal(requests.size, 1);
});

Deno.test("request table counts a buyer's open searches until they end", () => {
  const requests = table();
  const first = requests.add(search("S1"));
  requests.add(search("S2", "bea", "2"));
  assert.equal(requests.openCount("bea"), 2);
  requests.change(first, { state: "not_available" }, 10);
  assert.equal(requests.openCount("bea"), 1);
  assert.equal(requests.get("S1")?.record.updatedAt, 10);
  // Restored ended searches do not count.
  requests.add({ ...search("S3", "bea", "3"), state: "cancelled" });
  assert.equal(requests.openCount("bea"), 1);
});

Deno.test("request table holds a seller's item while found or buying, for that search only", () => {
  const requests = table();
  const a = requests.add(search("S1"));
  const b = requests.add(search("S2", "ann"));
  requests.change(a, { state: "found", seller: "sam", price: 400 }, 1);
  assert.ok(requests.isReservedElsewhere("sam", b.record));
  assert.ok(!requests.isReservedElsewhere("sam", a.record));
  assert.ok(!requests.isReservedElsewhere("sid", b.record));
  requests.change(a, { state: "buying" }, 2);
  assert.ok(requests.isReservedElsewhere("sam", { ...b.record, item: "LAPTOP" }));
  requests.change(a, { state: "cancelled" }, 3);
  assert.ok(!requests.isReservedElsewhere("sam", b.record));
});

Deno.test("request table pops due deadlines in order and skips replaced ones", () => {
  const requests = table();
  const a = requests.add(search("S1"));
  requests.add({ ...search("S2", "ann"), deadline: 1_500 });
  requests.change(a, { deadline: 2_000 }, 500);
  assert.equal(requests.nextDeadline(), 1_000, "the replaced deadline is still queued");
  assert.equal(requests.popDue(1_200), undefined, "S1's old deadline is skipped");
  const due = requests.popDue(2_000);
  assert.deepEqual([due?.request.record.id, due?.at], ["S2", 1_500]);
  assert.equal(requests.popDue(2_000)?.request.record.id, "S1");
  requests.change(a, { deadline: NEVER }, 2_000);
  assert.equal(requests.nextDeadline(), undefined);
});

Deno.test("request table tracks settled sales a party has yet to hear of", () => {
  const requests = table();
  const sale = requests.add({ ...search("S1"), state: "buying", seller: "sam", price: 400 });
  assert.deepEqual([...requests.undeliveredSales()], []);
  requests.change(sale, { state: "bought", shipped: false }, 1);
  assert.deepEqual([...requests.undeliveredSales()].map((r) => r.record.id), ["S1"]);
  requests.change(sale, { shipped: true }, 2);
  assert.deepEqual([...requests.undeliveredSales()], []);
  const restored = table();
  restored.add({ ...sale.record, shipped: false });
  assert.equal([...restored.undeliveredSales()].length, 1);
});

Deno.test("request table attaches stored offers to their search as answers", () => {
  const requests = table();
  requests.add(search("S1"));
  requests.addOffer({ request: "S1", seller: "sam", price: 450, at: 5 });
  requests.addOffer({ request: "S9", seller: "sam", price: 450, at: 5 });
  assert.equal(requests.get("S1")?.offers.get("sam")?.price, 450);
  assert.ok(requests.get("S1")?.answered.has("sam"));
});
