import assert from "node:assert/strict";
import { join } from "node:path";
import { parsePaymentJson, PaymentDetails, readPaymentFile } from "./payment.ts";

const CARD = "4111111111111111";

Deno.test("payment details are normalized: card digits only, single-spaced address", () => {
  assert.deepEqual(
    PaymentDetails.parse({
      card: " 4111 1111-1111 1111 ",
      expiry: " 11/30",
      address: "  42   Main\tSt ",
    }),
    { card: CARD, expiry: "11/30", address: "42 Main St" },
  );
});

Deno.test("parsePaymentJson says what is wrong, never quoting the card", async (t) => {
  const cases: [string, unknown, RegExp][] = [
    [
      "a short card",
      { card: "4111 1111", expiry: "11/30", address: "x" },
      /^card: expected 12 to 19 digits$/,
    ],
    [
      "a card with letters",
      { card: "4111-1111-1111-111x", expiry: "11/30", address: "x" },
      /^card: /,
    ],
    [
      "a card that is a number",
      { card: 4111111111111111, expiry: "11/30", address: "x" },
      /^card is missing or not a string$/,
    ],
    [
      "a card failing the Luhn check",
      { card: "4111111111111112", expiry: "11/30", address: "x" },
      /^card: its check digit is wrong \(Luhn\), so a digit is mistyped$/,
    ],
    [
      "an expired card",
      { card: CARD, expiry: "01/20", address: "x" },
      /^expiry: the card has expired$/,
    ],
    [
      "a month 13",
      { card: CARD, expiry: "13/30", address: "x" },
      /^expiry: expected a month and year/,
    ],
    ["a four-digit year", { card: CARD, expiry: "11/2030", address: "x" }, /^expiry: /],
    ["no address", { card: CARD, expiry: "11/30" }, /^address is missing or not a string$/],
    [
      "an empty address",
      { card: CARD, expiry: "11/30", address: "  " },
      /^address: must not be empty$/,
    ],
    [
      "two lines of address",
      { card: CARD, expiry: "11/30", address: "42 Main St\nSpringfield" },
      /^address: expected one line of text$/,
    ],
    [
      "a control character",
      { card: CARD, expiry: "11/30", address: "42\u0007Main" },
      /^address: expected text without control characters$/,
    ],
    [
      "a long address",
      { card: CARD, expiry: "11/30", address: "x".repeat(301) },
      /^address: expected at most 300 characters$/,
    ],
    [
      "a security code for the address",
      { card: CARD, expiry: "11/30", address: " 987 " },
      /^address: it is digits only/,
    ],
    [
      "an unknown field",
      { card: CARD, expiry: "11/30", address: "x", cvv: "123" },
      /^unknown field "cvv"/,
    ],
    ["an array", [CARD], /^expected a JSON object/],
  ];
  for (const [name, value, pattern] of cases) {
    await t.step(name, () => {
      const result = parsePaymentJson(JSON.stringify(value));
      assert.equal(result.ok, false);
      if (result.ok) return;
      assert.match(result.error, pattern);
      assert.ok(!result.error.includes("4111"), result.error);
    });
  }
  await t.step("text that is not JSON", () => {
    const result = parsePaymentJson(`{card: ${CARD}}`);
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.match(result.error, /^not valid JSON/);
      assert.ok(!result.error.includes(CARD));
    }
  });
});

Deno.test("readPaymentFile reads the file once and names --payment in its errors", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await t.step("a good file", async () => {
      const path = join(dir, "pay.json");
      await Deno.writeTextFile(
        path,
        JSON.stringify({ card: "4111-1111-1111-1111", expiry: "11/30", address: "42 Main St" }),
      );
      assert.deepEqual(await readPaymentFile(path), {
        ok: true,
        details: { card: CARD, expiry: "11/30", address: "42 Main St" },
      });
    });
    await t.step("a missing file", async () => {
      const path = join(dir, "none.json");
      assert.deepEqual(await readPaymentFile(path), {
        ok: false,
        error: `--payment ${JSON.stringify(path)}: cannot read it: no such file`,
      });
    });
    await t.step("a bad file", async () => {
      const path = join(dir, "bad.json");
      await Deno.writeTextFile(path, JSON.stringify({ card: "12", expiry: "11/30", address: "x" }));
      const result = await readPaymentFile(path);
      assert.deepEqual(result, {
        ok: false,
        error: `--payment ${JSON.stringify(path)}: card: expected 12 to 19 digits`,
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
