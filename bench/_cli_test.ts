import * as assert from "node:assert/strict";
import { parseBenchArgs, SCENARIOS } from "./_cli.ts";

/** Parses with the output caught, as the user would read it. */
function parse(args: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const result = parseBenchArgs(args, {
    stdout: (line) => out.push(line),
    stderr: (line) => err.push(line),
  });
  return { result, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("bench options default to the full run of every scenario, auto harness, no store named", () => {
  const { result, err } = parse([]);
  assert.equal(err, "");
  // No `store`: the default runs both and skips a missing PostgreSQL, which
  // `--store both` would not.
  assert.deepEqual(result, {
    ok: true,
    value: { smoke: false, only: [...SCENARIOS], harness: "auto" },
  });
});

Deno.test("bench options read what the docs and CI pass", () => {
  assert.deepEqual(parse(["--smoke"]).result, {
    ok: true,
    value: { smoke: true, only: [...SCENARIOS], harness: "auto" },
  });
  // bench/README.md's store comparison.
  const { result } = parse([
    "--only",
    "registrations,purchase,restart",
    "--store",
    "both",
    "--levels",
    "0,10000",
    "--timed",
    "10000",
    "--restart-size",
    "20000,2000",
    "--out",
    "/tmp/bench-out",
  ]);
  assert.deepEqual(result, {
    ok: true,
    value: {
      smoke: false,
      only: ["registrations", "purchase", "restart"],
      harness: "auto",
      store: "both",
      levels: [0, 10000],
      timed: 10000,
      restartSize: { peers: 20000, searches: 2000 },
      out: "/tmp/bench-out",
    },
  });
  const more = parse([
    "--only=purchase, purchase",
    "--harness",
    "deno",
    "--profile",
    "/tmp/prof",
    "--target",
    "/tmp/wt",
  ]);
  assert.deepEqual(more.result, {
    ok: true,
    value: {
      smoke: false,
      only: ["purchase"],
      harness: "deno",
      profile: "/tmp/prof",
      target: "/tmp/wt",
    },
  });
});

Deno.test("bench refuses a bad value with a clear error and the usage", async (t) => {
  const refused = (args: string[], why: RegExp) => {
    const { result, err } = parse(args);
    assert.deepEqual(result, { ok: false, exitCode: 2 });
    assert.match(err, why);
    return err;
  };
  await t.step("an unknown scenario, with the one meant", () => {
    const err = refused(
      ["--only", "purchase,fanuot"],
      /Unknown scenario "fanuot" in "purchase,fanuot"/,
    );
    assert.match(err, /did you mean fanout\?/);
    assert.match(err, /Usage: deno task bench .*--only/);
    assert.match(err, /Run deno task bench --help for more/);
  });
  await t.step("no scenario at all", () => {
    refused(["--only", ","], /Cannot use ",": expected one or more of registrations, fanout/);
  });
  await t.step("a harness or store that does not exist", () => {
    refused(["--harness", "c"], /Cannot use "c": expected auto, native or deno/);
    refused(["--store", "sqlite"], /Cannot use "sqlite": expected kv, postgres or both/);
  });
  await t.step("levels that are not ascending counts", () => {
    refused(["--levels", "0,ten"], /Cannot use "0,ten": expected counts like 0,10000/);
    refused(["--levels", "10,5"], /Cannot use "10,5": expected ascending counts/);
  });
  await t.step("fewer than 3 timed, or a restart size without searches", () => {
    refused(["--timed", "2"], /Cannot use "2": expected a count of 3 or more/);
    refused(["--restart-size", "100"], /expected peers and open searches like 20000,2000/);
    refused(["--restart-size", "100,0"], /expected peers and open searches like 20000,2000/);
  });
  await t.step("a mistyped option, with the one meant", () => {
    refused(["--smok"], /Unknown option "--smok": did you mean --smoke\?/);
  });
});

Deno.test("bench --help lists every option with its default and exits 0", () => {
  const { result, out } = parse(["--help"]);
  assert.deepEqual(result, { ok: false, exitCode: 0 });
  for (
    const flag of [
      "--smoke",
      "--only",
      "--out DIR",
      "--profile DIR",
      "--target DIR",
      "--store STORE",
      "--levels",
      "--timed N",
      "--restart-size PEERS,SEARCHES",
    ]
  ) {
    assert.ok(out.includes(flag), `${flag} in ${out}`);
  }
  assert.match(out, /--harness HARNESS .*\[auto\]/);
});
