import assert from "node:assert/strict";
import denoJson from "../../deno.json" with { type: "json" };
import { shop } from "./_shop.ts";

Deno.test("shop alone prints a short overview on stderr and exits 2", async () => {
  const result = await shop([]);
  assert.equal(result.code, 2);
  assert.equal(result.stdout, "");
  assert.match(result.stderr, /peer-to-peer marketplace/);
  assert.match(result.stderr, /shop server +Run the marketplace server/);
  assert.match(result.stderr, /shop peer --name NAME +Run a buyer and seller peer/);
  assert.match(result.stderr, /Run shop --help for more\n$/);
  assert.doesNotMatch(result.stderr, /No matching option|--offer-window/);
});

Deno.test("-h is --help and -V is --version, for the program and its commands", async (t) => {
  await t.step("shop -h", async () => {
    const [short, long] = await Promise.all([shop(["-h"]), shop(["--help"])]);
    assert.equal(short.code, 0);
    assert.equal(short.stdout, long.stdout);
  });
  await t.step("shop peer -h", async () => {
    const result = await shop(["peer", "-h"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /--name NAME/);
  });
  await t.step("shop -V and shop --version name the program, its version and Deno's", async () => {
    const [short, long] = await Promise.all([shop(["-V"]), shop(["--version"])]);
    assert.equal(short.code, 0);
    assert.equal(short.stdout, `shop ${denoJson.version} (Deno ${Deno.version.deno})\n`);
    assert.equal(long.stdout, short.stdout);
  });
});

Deno.test("help shows defaults as typed and the choices of --log-level", async () => {
  const result = await shop(["server", "--help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /--port PORT .*\[5000\]/);
  assert.match(result.stdout, /--offer-window DURATION .*\[10s\]/);
  assert.match(result.stdout, /--log-level LEVEL .*debug, info, warning, error/);
  assert.doesNotMatch(result.stdout, /\["/);
});

Deno.test("a usage error prints that command's usage and its --help, on stderr, exit 2", async (t) => {
  const cases: [string[], RegExp, string][] = [
    [["peer"], /^Error: Missing option `--name`/, "shop peer"],
    [
      ["server", "--port", "x"],
      /^Error: `--port`: Cannot use "x": expected a port number/,
      "shop server",
    ],
    [["server", "ledger", "--xyzzy"], /^Error: Unknown option "--xyzzy"$/, "shop server ledger"],
    [["server", "key", "--port", "1"], /^Error: .*"--port"/, "shop server key"],
  ];
  for (const [args, error, command] of cases) {
    await t.step(args.join(" "), async () => {
      const result = await shop(args);
      assert.equal(result.code, 2);
      assert.equal(result.stdout, "");
      const lines = result.stderr.trimEnd().split("\n");
      assert.match(lines[0]!, error);
      assert.ok(lines[1]!.startsWith(`Usage: ${command} `), lines[1]);
      assert.equal(lines.at(-1), `Run ${command} --help for more`);
      assert.doesNotMatch(result.stderr, /shop completion|shop help/);
    });
  }
  await t.step("an unknown command points to shop --help", async () => {
    const result = await shop(["bogus"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /"bogus"/);
    assert.match(result.stderr, /\nRun shop --help for more\n$/);
  });
  await t.step("a mistyped option gets the closest one of its command, and no usage", async () => {
    const result = await shop(["peer", "--nmae", "alice"]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr,
      'Error: Unknown option "--nmae": did you mean --name?\nRun shop peer --help for more\n',
    );
  });
});

Deno.test("--name says in a sentence why a name cannot be used", async (t) => {
  const cases: [string, string][] = [
    [
      "José",
      'Cannot use name "José": names are letters a-z or A-Z, digits, _ and -: "José" has "é"',
    ],
    ["a".repeat(40), `Cannot use name "${"a".repeat(40)}": at most 32 characters, not 40`],
  ];
  for (const [name, expected] of cases) {
    await t.step(name.slice(0, 10), async () => {
      const result = await shop(["peer", "--name", name]);
      assert.equal(result.code, 2);
      assert.ok(result.stderr.startsWith(`Error: \`--name\`: ${expected}\n`), result.stderr);
      assert.doesNotMatch(result.stderr, /Too big|expected string/);
    });
  }
});

Deno.test("shop server ledger without server data quotes the directory it looked in", async () => {
  const missing = await Deno.makeTempDir();
  try {
    const result = await shop(["server", "ledger", "--data", missing]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `Error: No server data in "${missing}": pass the server's --data directory\n`,
    );
  } finally {
    await Deno.remove(missing, { recursive: true });
  }
});
