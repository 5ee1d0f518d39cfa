import assert from "node:assert/strict";
import { join } from "node:path";
import { logger, setupLogging, shutdownLogging, wireLogging } from "./setup.ts";

async function written(
  options: { fileLevel?: "debug" | "info"; consoleLevel?: "debug" | "error" },
) {
  const dir = await Deno.makeTempDir();
  const file = join(dir, "test.log");
  try {
    await setupLogging({
      file,
      consoleLevel: options.consoleLevel ?? "error",
      ...(options.fileLevel ? { fileLevel: options.fileLevel } : {}),
    });
    const enabled = wireLogging();
    logger("test").info`Registered alice with card 4111 1111 1111 1111`;
    logger("test", "wire").debug`recv 127.0.0.1:6000 REGISTER r1 alice 127.0.0.1 6000 6001`;
    await shutdownLogging();
    return { enabled, text: await Deno.readTextFile(file) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("an event log file holds events, not the wire, unless the wire log is asked for", async (t) => {
  await t.step("an event log: the info line, no debug line", async () => {
    const { enabled, text } = await written({ fileLevel: "info" });
    assert.equal(enabled, false);
    assert.match(text, /^\d{4}-\d\d-\d\dT[\d:.]+Z INF shop\.test: Registered alice/m);
    assert.doesNotMatch(text, /REGISTER r1/);
  });
  await t.step("by default (a peer's file): every datagram too", async () => {
    const { enabled, text } = await written({});
    assert.equal(enabled, true);
    assert.match(text, /DBG shop\.test\.wire: recv 127\.0\.0\.1:6000 REGISTER r1/);
  });
  await t.step("a console at debug level implies the wire log", async () => {
    assert.equal((await written({ fileLevel: "info", consoleLevel: "debug" })).enabled, true);
  });
  await t.step("card numbers are masked in the file", async () => {
    const { text } = await written({ fileLevel: "info" });
    assert.match(text, /card \*+1111$/m);
    assert.doesNotMatch(text, /4111 1111/);
  });
});
