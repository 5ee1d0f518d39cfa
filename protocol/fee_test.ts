import assert from "node:assert/strict";
import { splitPrice, toCents } from "./fee.ts";

Deno.test("splitPrice keeps 10% for the server, rounded to the cent with halves up", () => {
  assert.deepEqual(splitPrice(500), { fee: 50, sellerShare: 450 });
  assert.deepEqual(splitPrice(199.99), { fee: 20, sellerShare: 179.99 });
  assert.deepEqual(splitPrice(0.05), { fee: 0.01, sellerShare: 0.04 });
  assert.deepEqual(splitPrice(0.04), { fee: 0, sellerShare: 0.04 });
  assert.deepEqual(splitPrice(0), { fee: 0, sellerShare: 0 });
});

Deno.test("splitPrice: fee and seller's share add up to the price in every cent up to 100.00", () => {
  for (let cents = 0; cents <= 10_000; cents++) {
    const { fee, sellerShare } = splitPrice(cents / 100);
    assert.equal(toCents(fee) + toCents(sellerShare), cents, `at ${cents} cents`);
    assert.ok(Math.abs(toCents(fee) - cents / 10) <= 0.5, `fee at ${cents} cents`);
  }
});

Deno.test("splitPrice keeps 10% in cents", () => {
  assert.deepEqual(splitPrice(500), { fee: 50, sellerShare: 450 });
  assert.deepEqual(splitPrice(199.99), { fee: 20, sellerShare: 179.99 });
  assert.deepEqual(splitPrice(0.05), { fee: 0.01, sellerShare: 0.04 });
  assert.deepEqual(splitPrice(0), { fee: 0, sellerShare: 0 });
});
