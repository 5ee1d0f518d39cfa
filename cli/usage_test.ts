import assert from "node:assert/strict";
import { subcommandOf, type SubcommandUsage, usageHint } from "./usage.ts";

const SUBCOMMANDS: SubcommandUsage[] = [
  { path: ["server"], usage: [{ type: "command", name: "server" }] },
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

Deno.test("usageHint gives the command's usage and its --help", () => {
  assert.equal(
    usageHint("shop", SUBCOMMANDS[1]),
    "Usage: shop server ledger [--json]\nRun shop server ledger --help for more",
  );
  assert.equal(usageHint("shop", undefined), "Run shop --help for more");
});
