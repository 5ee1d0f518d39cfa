import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import denoJson from "../../deno.json" with { type: "json" };
import { checkTranscript } from "../_transcripts.ts";

Deno.test("deno task demo runs the scripted marketplace, ends with the ledger, and prints what the README shows", async () => {
  const task = denoJson.tasks.demo;
  const args = task.replace(/^deno /, "").split(" ").map((word) =>
    word === "demo/demo.ts" ? fileURLToPath(new URL("../../demo/demo.ts", import.meta.url)) : word
  );
  const output = await new Deno.Command(Deno.execPath(), {
    args,
    // No NO_COLOR: a pipe alone must keep the colours out.
    env: { NO_COLOR: "" },
    stdin: "null",
    signal: AbortSignal.timeout(120_000),
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, `${stdout}\n${new TextDecoder().decode(output.stderr)}`);
  for (
    const expected of [
      /FOUND \S+ Lamp 25 from bob/,
      /NEGOTIATE \S+ Laptop 850/,
      /ACCEPT \S+ Laptop 850/,
      /REFUSE \S+ Phone 400/,
      /NOT_FOUND \S+ Phone 400/,
      /NOT_AVAILABLE \S+ Unicorn 100/,
      /server → carol +CANCEL \S+ Camera 300/,
      /Shipping_Info/,
      /2 completed, 0 cancelled; sales 875\.00, fees 87\.50, paid to sellers 787\.50/,
    ]
  ) {
    assert.match(stdout, expected);
  }
  assert.ok(!stdout.includes("\x1b"), "no escape codes in a pipe");
  const dir = stdout.match(/data and logs in (\S+) \(removed at the end/)?.[1];
  assert.ok(dir, "the demo says where its data is and that it removes it");
  assert.match(stdout, new RegExp(`Removed ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\n$`));
  assert.equal(await Deno.stat(dir).then(() => true, () => false), false, "and it did");
  for (const card of ["4111111111111111", "5555555555554444", "378282246310005"]) {
    assert.ok(!stdout.includes(card), "no card number in the transcript");
  }
  // The README's transcript (`deno task docs:update` rewrites it): steps 4 to 7 left out, the
  // wire trace's lines in each step in any order, as the network delivers them.
  const lines = stdout.replace(/\n$/, "").split("\n");
  const cut = lines.findIndex((line) => line.startsWith("4. "));
  const resume = lines.findIndex((line) => line.startsWith("8. "));
  assert.ok(cut > 0 && resume > cut, "the demo has steps 4 and 8");
  const left = lines.slice(cut, resume).filter((line) => /^\d\. /.test(line));
  await checkTranscript(
    new URL("../../README.md", import.meta.url),
    "demo",
    [
      "$ deno task demo",
      ...lines.slice(0, cut),
      `…  (left out here: ${left.map((title) => title.replace(/:.*/, "")).join("; ")})`,
      "",
      ...lines.slice(resume),
    ],
    { unordered: (line) => line.startsWith("    ") },
  );
});
