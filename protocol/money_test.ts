import assert from "node:assert/strict";
import { formatMoney, formatPrice, MAX_PRICE, parsePrice, priceProblem, toCents } from "./money.ts";

Deno.test("parsePrice reads whole cents from 0.01 to MAX_PRICE", () => {
  assert.equal(parsePrice("24.99"), 24.99);
  assert.equal(parsePrice("25"), 25);
  assert.equal(parsePrice("0.01"), 0.01);
  assert.equal(parsePrice("25.500"), 25.5);
  assert.equal(parsePrice(String(MAX_PRICE)), MAX_PRICE);
  assert.equal(parsePrice("999999999.99"), 999999999.99);
});

Deno.test("parsePrice refuses fractions of a cent, zero and too much, saying what to type", () => {
  const cases: [string, string][] = [
    ["0.000001", 'Cannot use price "0.000001": at most 2 decimals, like 24.99'],
    ["24.999", 'Cannot use price "24.999": at most 2 decimals, like 24.99'],
    ["0", 'Cannot use price "0": must be at least 0.01'],
    ["0.00", 'Cannot use price "0.00": must be at least 0.01'],
    ["1000000000.01", 'Cannot use price "1000000000.01": must be at most 1000000000'],
    ["abc", 'Cannot use price "abc": expected a decimal number like 24.99'],
    ["-5", 'Cannot use price "-5": expected a decimal number like 24.99'],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parsePrice(text), (error: unknown) => {
      assert.ok(error instanceof RangeError);
      assert.equal(error.message, message);
      return true;
    });
  }
});

Deno.test("every cent up to 100.00 reads back to its cents and writes as typed", () => {
  for (let cents = 1; cents <= 10_000; cents++) {
    const text = (cents / 100).toFixed(2);
    assert.equal(priceProblem(text), undefined, text);
    const price = parsePrice(text);
    assert.equal(toCents(price), cents);
    assert.equal(formatPrice(price), String(Number(text)));
  }
});

Deno.test("formatMoney writes every amount with two decimals, exactly", () => {
  const cases: [number, string][] = [
    [22.5, "22.50"],
    [500, "500.00"],
    [0.1 + 0.2, "0.30"],
    [179.99, "179.99"],
    [0.05, "0.05"],
    [1_000_000_000, "1000000000.00"],
    [-2.5, "-2.50"],
  ];
  for (const [amount, text] of cases) assert.equal(formatMoney(amount), text);
});
