import assert from "node:assert/strict";
import { parseCommand } from "../commands.ts";
import { pageError, pageText } from "./peer_page.ts";

Deno.test("a command's error on the page has no usage line and names fields in words", () => {
  const parsed = parseCommand("sell Vase abc");
  assert.ok(!parsed.ok);
  assert.match(parsed.error, /usage: sell ITEM PRICE/);
  const shown = pageError(parsed.error);
  assert.match(shown, /^Price "abc" is not a price: /);
  assert.doesNotMatch(shown, /usage|Cannot run|ITEM|PRICE/);
  const missing = parseCommand("buy Lamp");
  assert.ok(!missing.ok);
  assert.equal(pageError(missing.error), "Missing max price");
  assert.equal(pageError("Error: Lamp is already listed at 24"), "Lamp is already listed at 24");
});

Deno.test("the terminal's words are left out of the page's texts", () => {
  assert.equal(pageText("Buy Lamp for 25 from alice? [y/N]"), "Buy Lamp for 25 from alice?");
  assert.equal(
    pageText(
      "No longer asking for payment details: the server closed the transaction. " +
        "The next line you type is still hidden, and discarded",
    ),
    "No longer asking for payment details: the server closed the transaction",
  );
  assert.equal(
    pageText("bob ready on UDP 1 and TCP 2; server 127.0.0.1:5000; key K. Type help for commands."),
    "bob ready on UDP 1 and TCP 2; server 127.0.0.1:5000; key K",
  );
  assert.equal(pageText("Selling Lamp at 25"), "Selling Lamp at 25");
});
