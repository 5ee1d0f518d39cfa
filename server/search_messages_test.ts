import assert from "node:assert/strict";
import type { RequestRecord } from "./records.ts";
import { buyerView, cancel, negotiate, noDeal, reserve } from "./search_messages.ts";

const request: RequestRecord = {
  id: "S1",
  buyer: "bea",
  buyerRq: "b1",
  item: "Laptop",
  description: "any",
  maxPrice: 500,
  createdAt: 0,
  updatedAt: 0,
  state: "found",
  deadline: 10,
  contacted: 1,
  seller: "sam",
  price: 450,
};

Deno.test("messages to the seller carry the server's RQ#, to the buyer its own", () => {
  assert.deepEqual(cancel(request, "seller"), {
    type: "CANCEL",
    rq: "S1",
    item: "Laptop",
    price: 450,
  });
  assert.deepEqual(cancel(request, "buyer", 500), {
    type: "CANCEL",
    rq: "b1",
    item: "Laptop",
    price: 500,
  });
  assert.deepEqual(negotiate(request), {
    type: "NEGOTIATE",
    rq: "S1",
    item: "Laptop",
    maxPrice: 500,
  });
  assert.deepEqual(reserve(request), { type: "RESERVE", rq: "S1", item: "Laptop", price: 450 });
  assert.deepEqual(noDeal("NOT_FOUND", request), {
    type: "NOT_FOUND",
    rq: "b1",
    item: "Laptop",
    maxPrice: 500,
  });
});

Deno.test("the buyer's view follows the state, naming the seller only for `from` peers", () => {
  assert.deepEqual(buyerView(request, false), {
    type: "FOUND",
    rq: "b1",
    item: "Laptop",
    price: 450,
  });
  assert.equal(buyerView({ ...request, state: "bought" }, true)?.type, "FOUND");
  assert.deepEqual(buyerView(request, true), {
    type: "FOUND",
    rq: "b1",
    item: "Laptop",
    price: 450,
    seller: "sam",
  });
  assert.equal(buyerView({ ...request, state: "searching" }, true), undefined);
  assert.equal(buyerView({ ...request, state: "negotiating" }, true), undefined);
  assert.equal(buyerView({ ...request, state: "not_found" }, true)?.type, "NOT_FOUND");
  assert.equal(buyerView({ ...request, state: "cancelled" }, true)?.type, "CANCEL");
  // Cancelled before any price was agreed (the buyer left while searching).
  const { price: _, ...unpriced } = request;
  assert.equal(buyerView({ ...unpriced, state: "cancelled" }, true)?.type, "NOT_AVAILABLE");
});
