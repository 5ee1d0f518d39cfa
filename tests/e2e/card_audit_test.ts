/**
 * The card-data audit of the end-to-end tests fails the test that leaves a
 * card number or an expiry date behind, in a file or in a process's output.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { audit, CardDataFound, ShopProcess, tempDir } from "./_process.ts";

Deno.test("disposing a temporary directory fails when a file in it holds a card number", async () => {
  const temp = await tempDir();
  await Deno.mkdir(join(temp.path, "logs"));
  await Deno.writeTextFile(join(temp.path, "logs", "shop.log"), "card 5555555555554444 used\n");
  const before = audit.files;
  await assert.rejects(async () => await temp[Symbol.asyncDispose](), CardDataFound);
  assert.equal(audit.files, before + 1);
  await assert.rejects(() => Deno.stat(temp.path), Deno.errors.NotFound, "removed all the same");
});

Deno.test("disposing a temporary directory fails on an expiry date, but not on a payment file", async () => {
  const clean = await tempDir();
  await Deno.writeTextFile(join(clean.path, "bea-payment.json"), '{"expiry":"12/39"}');
  await clean[Symbol.asyncDispose]();
  const dirty = await tempDir();
  await Deno.writeTextFile(join(dirty.path, "shop.log"), "expires 12/39");
  await assert.rejects(async () => await dirty[Symbol.asyncDispose](), /12\/39 in .*shop\.log/);
});

Deno.test("disposing a process fails when its output holds a card number", async () => {
  // The command line rejects the name and quotes it back on standard error.
  const process = new ShopProcess(["peer", "--name", "4111111111111111/"]);
  await process.finished();
  const before = audit.outputs;
  await assert.rejects(() => process[Symbol.asyncDispose](), /4111111111111111 in the output/);
  assert.equal(audit.outputs, before + 1);
});
