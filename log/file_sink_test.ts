import assert from "node:assert/strict";
import { join } from "node:path";
import type { LogRecord } from "@logtape/logtape";
import { getFileSink } from "./file_sink.ts";
import { logger, setupLogging, shutdownLogging } from "./setup.ts";
import { fill, mountTmpfs, tmpfsRefused } from "../tests/_tmpfs.ts";

const refused = await tmpfsRefused();
if (refused) {
  console.warn(
    `A tmpfs cannot be mounted here (${refused}): the full-disk test writes to /dev/full ` +
      "instead, a real ENOSPC on every write, and cannot show the recovery",
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Logs `count` lines `what N`, a few milliseconds apart. */
async function logLines(what: string, count: number): Promise<void> {
  const log = logger("test");
  for (let i = 0; i < count; i++) {
    log.info`${what} ${i}`;
    await sleep(5);
  }
}

/** The numbers of the whole lines `what N` in a log text. */
function numbers(text: string, what: string): Set<number> {
  const pattern = new RegExp(`^\\S+ INF shop\\.test: ${what} (\\d+)$`, "gm");
  return new Set([...text.matchAll(pattern)].map((match) => Number(match[1])));
}

Deno.test("a full disk gets one line when the log cannot be written and one when it can again, never a stack", async (t) => {
  await using fs = refused ? undefined : await mountTmpfs("64k");
  const file = fs ? join(fs.path, "server.log") : "/dev/full";
  // Standard error as the user sees it: the console lines and the reports.
  const stderr: string[] = [];
  await setupLogging({ file, consoleLevel: "info", consoleWrite: (line) => stderr.push(line) });
  let filler: string | undefined;
  try {
    await logLines("before", 10);
    await sleep(300);
    if (fs) filler = await fill(fs.path);
    await t.step("writing fails: one line on standard error, and logging goes on", async () => {
      await logLines("during", 200);
      await sleep(400);
      const reports = stderr.filter((line) => line.startsWith("shop: "));
      assert.deepEqual(reports, [
        `shop: cannot write ${file}: No space left on device (os error 28); ` +
        "log lines are dropped until it can",
      ]);
      // Every line still reached the console.
      assert.equal(stderr.filter((line) => / INF shop\.test: during \d+$/.test(line)).length, 200);
    });
    await t.step({
      name: "there is room again: one line with the count dropped, and the file goes on",
      ignore: !fs,
      fn: async () => {
        await Deno.remove(filler!);
        await logLines("after", 10);
        await sleep(400);
        const reports = stderr.filter((line) => line.startsWith("shop: "));
        assert.equal(reports.length, 2, reports.join("\n"));
        const count = reports[1]!.match(/^shop: \S+ is written again; ([\d,]+) log lines? w/)?.[1];
        const dropped = Number(count?.replace(/,/g, ""));
        assert.ok(dropped > 0, reports[1]);
        const text = await Deno.readTextFile(file);
        assert.deepEqual(numbers(text, "before").size, 10);
        assert.deepEqual(numbers(text, "after").size, 10);
        assert.match(
          text,
          new RegExp(`WRN shop\\.log: ${dropped} log lines were dropped before this one`),
        );
        // Every line of the outage is in the file or counted dropped (a line
        // cut short by the full disk is counted, though its text may show).
        const kept = numbers(text, "during").size;
        assert.ok(
          kept + dropped === 200 || kept + dropped === 201,
          `${kept} kept + ${dropped} dropped of 200`,
        );
      },
    });
  } finally {
    await shutdownLogging();
  }
  assert.deepEqual(stderr.filter((line) => /^\s+at /m.test(line)), [], "no stack trace");
});

Deno.test("the log file is rotated past its size, the oldest beyond the count removed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "peer.log");
    const formatter = (record: LogRecord) => `${record.message[0]}\n`;
    const sink = getFileSink(path, { formatter, maxSize: 1000, maxFiles: 2, bufferSize: 100 });
    const record = (i: number): LogRecord => ({
      category: ["shop"],
      level: "info",
      message: [`line ${String(i).padStart(4, "0")} ${"x".repeat(40)}`],
      rawMessage: "",
      timestamp: Date.now(),
      properties: {},
    });
    for (let i = 0; i < 100; i++) {
      sink(record(i));
      await sleep(1);
    }
    await sink[Symbol.asyncDispose]();
    const files = [path, `${path}.1`, `${path}.2`];
    const texts = await Promise.all(files.map((file) => Deno.readTextFile(file)));
    for (const text of texts) assert.ok(text.length <= 1000, `${text.length} bytes`);
    await assert.rejects(Deno.stat(`${path}.3`), Deno.errors.NotFound);
    // Oldest file first, the lines in order and the last ones kept.
    const numbered = texts.reverse().join("").split("\n").filter(Boolean).map((line) =>
      Number(line.slice(5, 9))
    );
    assert.deepEqual(numbered, numbered.toSorted((a, b) => a - b));
    assert.equal(numbered.at(-1), 99);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
