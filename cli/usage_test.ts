import assert from "node:assert/strict";
import { formatMessage } from "@optique/core/message";
import { subcommandOf, type SubcommandUsage, unexpectedInput, usageHint } from "./usage.ts";

const SUBCOMMANDS: SubcommandUsage[] = [
  {
    path: ["server"],
    usage: [{ type: "command", name: "server" }, {
      type: "optional",
      terms: [{ type: "option", names: ["--port"], metavar: "PORT" }],
    }],
  },
  {
    path: ["server", "ledger"],
    usage: [{ type: "command", name: "server" }, { type: "command", name: "ledger" }, {
      type: "optional",
      terms: [{ type: "option", names: ["--json"] }],
    }],
  },
];

Deno.test("subcommandOf picks the longest command path the arguments start with", () => {
  assert.deepEqual(subcommandOf(["server", "ledger", "--jsn"], SUBCOMMANDS)?.path, [
    "server",
    "ledger",
  ]);
  assert.deepEqual(subcommandOf(["server", "--port", "x"], SUBCOMMANDS)?.path, ["server"]);
  assert.equal(subcommandOf(["bogus"], SUBCOMMANDS), undefined);
  assert.equal(subcommandOf([], SUBCOMMANDS), undefined);
});

Deno.test("unexpectedInput suggests the closest option or command of the command typed", async (t) => {
  const error = (token: string, args: string[]) => {
    const found = unexpectedInput(token, args, SUBCOMMANDS);
    return [formatMessage(found.message), found.suggestions];
  };
  await t.step("an option of that command, not of another", () => {
    assert.deepEqual(error("--jsn", ["server", "ledger", "--jsn"]), [
      'Unknown option "--jsn": did you mean --json?',
      ["--json"],
    ]);
    assert.deepEqual(error("--jsn", ["server", "--jsn"]), ['Unknown option "--jsn"', []]);
    assert.deepEqual(error("--prot", ["server", "--prot", "1"])[1], ["--port"]);
  });
  await t.step("the name before = and any case", () => {
    assert.deepEqual(error("--JSN=1", ["server", "ledger", "--JSN=1"]), [
      'Unknown option "--JSN=1": did you mean --json?',
      ["--json"],
    ]);
  });
  await t.step("--help everywhere, --version for the program", () => {
    assert.deepEqual(error("--hlep", ["server", "--hlep"])[1], ["--help"]);
    assert.deepEqual(error("--verison", ["--verison"])[1], ["--version"]);
    assert.deepEqual(error("--verison", ["server", "--verison"])[1], []);
  });
  await t.step("a subcommand of that command", () => {
    assert.deepEqual(error("legder", ["server", "legder"]), [
      'Unknown command "legder": did you mean ledger?',
      ["ledger"],
    ]);
    assert.deepEqual(error("servr", ["servr"])[1], ["server"]);
  });
  await t.step("no short option for a long name, nothing for dashes alone", () => {
    assert.deepEqual(error("--", ["--"]), ['Unknown option "--"', []]);
    assert.deepEqual(error("--=x", ["server", "--=x"]), ['Unknown option "--=x"', []]);
    assert.deepEqual(error("---", ["---"])[1], []);
  });
  await t.step("a huge word is quoted by its start", () => {
    const huge = `--${"\u00e9".repeat(100_000)}`;
    const [text] = error(huge, ["server", huge]);
    assert.equal(text, `Unknown option "--${"\u00e9".repeat(58)}\u2026"`);
    const [argument] = error("\u{1F600}".repeat(61), ["server", "ledger", "x"]);
    assert.equal(argument, `Unexpected argument "${"\u{1F600}".repeat(60)}\u2026"`);
  });
  await t.step("nothing for a short option or a word a command without subcommands gets", () => {
    assert.deepEqual(error("-x", ["server", "-x"]), ['Unknown option "-x"', []]);
    assert.deepEqual(error("extra", ["server", "ledger", "extra"]), [
      'Unexpected argument "extra"',
      [],
    ]);
  });
});

Deno.test("usageHint gives the command's usage and its --help", () => {
  assert.equal(
    usageHint("shop", SUBCOMMANDS[1]),
    "Usage: shop server ledger [--json]\nRun shop server ledger --help for more",
  );
  assert.equal(usageHint("shop", undefined), "Run shop --help for more");
  assert.equal(
    usageHint("shop", SUBCOMMANDS[1], { usage: false }),
    "Run shop server ledger --help for more",
  );
});
