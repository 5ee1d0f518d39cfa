import * as assert from "node:assert/strict";
import { parseSimulatorArgs } from "./_cli.ts";
import { replayCommand } from "./simulation.ts";
import { NO_STORAGE_FAULTS } from "./storage.ts";

/** Parses with the output caught, as the user would read it. */
function parse(args: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const result = parseSimulatorArgs(args, {
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
  });
  return { result, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("simulator options default to seeds 1 to 100, honest shells, with storage faults", () => {
  const { result, err } = parse([]);
  assert.equal(err, "");
  assert.deepEqual(result, { ok: true, value: { seeds: 100, from: 1, trace: false, options: {} } });
});

Deno.test("simulator options read every flag the replay command writes", () => {
  const options = {
    crashPlaintext: true,
    storage: NO_STORAGE_FAULTS,
    commits: "reply-first",
  } as const;
  // The replay line a failure prints must parse back to the same run.
  const replay = replayCommand(12, options).replace(/^deno task simulate /, "").split(" ");
  const { result } = parse(replay);
  assert.deepEqual(result, {
    ok: true,
    value: { seed: 12, seeds: 100, from: 1, trace: false, options },
  });
  const range = parse(["--seeds", "500", "--from", "7", "--trace", "--commits", "honest"]);
  assert.deepEqual(range.result, {
    ok: true,
    value: { seeds: 500, from: 7, trace: true, options: {} },
  });
});

Deno.test("simulator options take a leading -- as deno task users type it", () => {
  const { result } = parse(["--", "--seeds", "3"]);
  assert.deepEqual(result, { ok: true, value: { seeds: 3, from: 1, trace: false, options: {} } });
});

Deno.test("simulator refuses a bad value with a clear error and the usage", async (t) => {
  await t.step("a seed count that is not a whole number", () => {
    for (const bad of ["abc", "-1", "1.5", "1e3"]) {
      const { result, err } = parse(["--seeds", bad]);
      assert.deepEqual(result, { ok: false, exitCode: 2 });
      assert.match(
        err,
        new RegExp(`Cannot use "${bad.replace(".", "\\.")}": expected a whole number`),
      );
      assert.match(err, /Usage: deno task simulate .*--seeds N/);
      assert.match(err, /Run deno task simulate --help for more/);
    }
  });
  await t.step("an unknown commit mode", () => {
    const { result, err } = parse(["--commits", "lazy"]);
    assert.deepEqual(result, { ok: false, exitCode: 2 });
    assert.match(err, /Cannot use "lazy": expected honest, reply-first or drop-failed/);
  });
  await t.step("a mistyped option, with the one meant", () => {
    const { result, err } = parse(["--sed", "4"]);
    assert.deepEqual(result, { ok: false, exitCode: 2 });
    assert.match(err, /Unknown option "--sed": did you mean --seed\?/);
  });
});

Deno.test("simulator --help lists every option with its default and exits 0", () => {
  const { result, out } = parse(["--help"]);
  assert.deepEqual(result, { ok: false, exitCode: 0 });
  for (const flag of ["--seed SEED", "--seeds N", "--from SEED", "--trace", "--crash-plaintext"]) {
    assert.ok(out.includes(flag), `${flag} in ${out}`);
  }
  assert.match(out, /--seeds N .*\[100\]/);
  assert.match(out, /--commits MODE .*\[honest\]/);
});
