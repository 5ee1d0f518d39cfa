import assert from "node:assert/strict";
import { COMMANDS, helpText, parseCommand } from "./commands.ts";

const NAMES = Object.keys(COMMANDS) as (keyof typeof COMMANDS)[];
/** The commands that take no arguments. */
const BARE = [
  "register",
  "deregister",
  "inventory",
  "requests",
  "history",
  "status",
  "key",
  "help",
  "quit",
] as const;

Deno.test("COMMANDS holds the peer's commands in help order", () => {
  assert.deepEqual(NAMES, [
    "register",
    "deregister",
    "sell",
    "price",
    "edit",
    "unsell",
    "browse",
    "inventory",
    "buy",
    "cancel",
    "requests",
    "questions",
    "history",
    "payment",
    "set",
    "status",
    "key",
    "help",
    "quit",
  ]);
});

Deno.test("parseCommand reads each command without arguments", async (t) => {
  for (const name of BARE) {
    await t.step(name, () => {
      assert.deepEqual(parseCommand(name), { ok: true, command: { name, args: [] } });
      assert.deepEqual(parseCommand(`  ${name}\t`), { ok: true, command: { name, args: [] } });
      assert.deepEqual(parseCommand(`"${name}"`), { ok: true, command: { name, args: [] } });
    });
  }
});

Deno.test("parseCommand gives no command for an empty line", () => {
  assert.deepEqual(parseCommand(""), { ok: true, command: undefined });
  assert.deepEqual(parseCommand("   \t"), { ok: true, command: undefined });
});

Deno.test("parseCommand rejects an unknown command and says to type help", async (t) => {
  const cases = ["bogus", "reg", "toString", "__proto__", "constructor", "registration"];
  for (const name of cases) {
    await t.step(name, () => {
      assert.deepEqual(parseCommand(`${name} x`), {
        ok: false,
        error: `Unknown command ${JSON.stringify(name)}: type help for the list`,
      });
    });
  }
});

Deno.test("parseCommand suggests the command a near miss was meant to be", async (t) => {
  const cases: [string, string][] = [
    ["invntory", "inventory"],
    ["Register", "register"],
    ["REGISTER", "register"],
    ["stauts", "status"],
    ["hlep", "help"],
    ["qiut", "quit"],
    ["serches", "searches"],
    ["by", "buy"],
  ];
  for (const [typed, meant] of cases) {
    await t.step(typed, () => {
      assert.deepEqual(parseCommand(`${typed} x`), {
        ok: false,
        error: `Unknown command ${JSON.stringify(typed)}: did you mean ${meant}?`,
      });
    });
  }
  await t.step("a one-letter word is not taken for ?", () => {
    for (const typed of ["y", "n", "x"]) {
      assert.deepEqual(parseCommand(typed), {
        ok: false,
        error: `Unknown command "${typed}": type help for the list`,
      });
    }
  });
});

Deno.test("parseCommand rejects arguments to a command that takes none", async (t) => {
  for (const name of BARE) {
    await t.step(name, () => {
      const expected = {
        ok: false,
        error: `Cannot run ${name}: takes no arguments; usage: ${COMMANDS[name].usage}`,
      };
      assert.deepEqual(parseCommand(`${name} extra`), expected);
      assert.deepEqual(parseCommand(`${name} one two`), expected);
      assert.deepEqual(parseCommand(`${name} ""`), expected);
    });
  }
});

Deno.test("parseCommand reports a line that does not split into words", () => {
  assert.deepEqual(parseCommand(`register "alice`), {
    ok: false,
    error: `Unclosed quote ": close it before the end of the line`,
  });
  assert.deepEqual(parseCommand("quit \\"), {
    ok: false,
    error: "Cannot end a line with a backslash: escape what follows it",
  });
});

Deno.test("helpText lists every command with its summary, one a line", () => {
  const lines = helpText().split("\n");
  assert.equal(lines.length, NAMES.length);
  NAMES.forEach((name, i) => {
    const { usage, summary } = COMMANDS[name];
    const line = lines[i]!;
    assert.ok(line.startsWith(`  ${usage} `), line);
    assert.ok(line.endsWith(`  ${summary}`), line);
  });
});

Deno.test("helpText lines up the summaries in one column", () => {
  const columns = helpText().split("\n").map((line) => {
    const name = NAMES.find((entry) => line.startsWith(`  ${COMMANDS[entry].usage} `))!;
    return line.indexOf(COMMANDS[name].summary);
  });
  assert.equal(new Set(columns).size, 1);
  assert.equal(columns[0], 2 + Math.max(...NAMES.map((name) => COMMANDS[name].usage.length)) + 2);
});

function error(line: string): string {
  const parsed = parseCommand(line);
  assert.equal(parsed.ok, false, `${line} should not parse`);
  return (parsed as { error: string }).error;
}

Deno.test("parseCommand reads sell with a description and a floor anywhere after the price", async (t) => {
  await t.step("item and price only", () => {
    assert.deepEqual(parseCommand("sell Laptop 500"), {
      ok: true,
      command: { name: "sell", args: { item: "Laptop", price: 500, description: "" } },
    });
  });
  const expected = {
    ok: true,
    command: {
      name: "sell",
      args: { item: "Laptop", price: 499.99, description: "fast and light", floor: 400 },
    },
  };
  for (
    const line of [
      "sell Laptop 499.99 fast and light --floor 400",
      "sell Laptop 499.99 --floor 400 fast and light",
      "sell Laptop 499.99 fast --floor=400 and light",
      `sell Laptop 499.99 "fast and   light" --floor 400.0`,
    ]
  ) {
    await t.step(line, () => assert.deepEqual(parseCommand(line), expected));
  }
});

Deno.test("parseCommand reads price and payment", () => {
  assert.deepEqual(parseCommand("price Lamp 30"), {
    ok: true,
    command: { name: "price", args: { item: "Lamp", price: 30, floor: undefined } },
  });
  assert.deepEqual(parseCommand("price Lamp 30 --floor 24.50"), {
    ok: true,
    command: { name: "price", args: { item: "Lamp", price: 30, floor: 24.5 } },
  });
  assert.deepEqual(parseCommand("price Lamp 30 --no-floor"), {
    ok: true,
    command: { name: "price", args: { item: "Lamp", price: 30, floor: null } },
  });
  const bad = parseCommand("price Lamp 30.001");
  assert.ok(!bad.ok && bad.error.startsWith(`Cannot run price: PRICE "30.001" is not a price`));
  assert.deepEqual(parseCommand("payment"), {
    ok: true,
    command: { name: "payment", args: { clear: false } },
  });
  assert.deepEqual(parseCommand("payment clear"), {
    ok: true,
    command: { name: "payment", args: { clear: true } },
  });
  assert.ok(!parseCommand("payment 4111").ok);
});

Deno.test("parseCommand says what is wrong with a sell line and how to type it", async (t) => {
  const usage = `usage: ${COMMANDS.sell.usage}`;
  const cases: [string, string][] = [
    ["sell", "missing ITEM"],
    ["sell Laptop", "missing PRICE"],
    ["sell Laptop abc", `PRICE "abc" is not a price: expected a decimal number like 24.99`],
    ["sell Pen 0.000001", `PRICE "0.000001" is not a price: at most 2 decimals, like 24.99`],
    ["sell Pen 0", `PRICE "0" is not a price: must be at least 0.01`],
    ["sell Pen 5 --floor 0.001", `floor "0.001" is not a price: at most 2 decimals`],
    ["sell Laptop -5", `PRICE "-5" is negative: a price is at least 0.01`],
    ["sell Lamp 25,50", `PRICE "25,50" is not a price: write the cents after a dot, like 25.50`],
    ["sell Lamp $25", `PRICE "$25" is not a price: write the number alone, without "$", like 25`],
    ["sell Lamp 25€", `PRICE "25€" is not a price: write the number alone, without "€", like 25`],
    ["sell Lamp 1,250", `PRICE "1,250" is not a price: write it without separators, like 1250`],
    ["sell Lamp 1,250.50", `PRICE "1,250.50" is not a price: write it without separators`],
    ["sell Lamp 25 --floor 20,5", `floor "20,5" is not a price: write the cents after a dot`],
    ["sell Lamp $", `PRICE "$" is not a price: expected a decimal number like 24.99`],
    ["sell Lamp 99999999999", `PRICE "99999999999" is over the maximum 1000000000`],
    ["sell Lamp 1000000000.5", `PRICE "1000000000.5" is over the maximum 1000000000`],
    ["sell Laptop 1.1234567", `PRICE "1.1234567" is not a price`],
    ["sell Laptop 500 --floor", "--floor needs a price, like --floor 400"],
    ["sell Laptop 500 --floor cheap", `floor "cheap" is not a price`],
    ["sell Laptop 500 --floor 1 --floor 2", "give --floor only once"],
    ["sell Laptop 500 --cheap", `unknown option "--cheap": the options are --floor and --quantity`],
    ["sell --floor 400 Laptop 500", `expected ITEM before any option, got "--floor"`],
    [`sell "two words" 500`, `item "two words" is not valid: expected one word`],
    [`sell ${"x".repeat(65)} 500`, `item "${"x".repeat(65)}" is too long: at most 64 characters`],
    [
      `sell Laptop 500 ${"d".repeat(301)}`,
      "the description is too long: at most 300 characters, not 301",
    ],
  ];
  for (const [line, why] of cases) {
    await t.step(line.slice(0, 40), () => {
      const message = error(line);
      assert.ok(message.startsWith(`Cannot run sell: ${why}`), message);
      assert.ok(message.endsWith(usage), message);
    });
  }
});

Deno.test("parseCommand reads buy with an optional description", () => {
  assert.deepEqual(parseCommand("buy laptop 500"), {
    ok: true,
    command: { name: "buy", args: { item: "laptop", maxPrice: 500, description: "" } },
  });
  assert.deepEqual(parseCommand("buy Laptop 600.5 any 13 inch   one"), {
    ok: true,
    command: {
      name: "buy",
      args: { item: "Laptop", maxPrice: 600.5, description: "any 13 inch one" },
    },
  });
  assert.match(error("buy Laptop"), /^Cannot run buy: missing MAX_PRICE; usage: buy ITEM/);
  assert.match(error("buy Laptop lots"), /^Cannot run buy: MAX_PRICE "lots" is not a price/);
  assert.match(error("buy"), /^Cannot run buy: missing ITEM/);
});

Deno.test("parseCommand reads unsell ITEM and nothing more", () => {
  assert.deepEqual(parseCommand("unsell Laptop"), {
    ok: true,
    command: { name: "unsell", args: { item: "Laptop" } },
  });
  assert.equal(error("unsell"), `Cannot run unsell: missing ITEM; usage: unsell ITEM`);
  assert.equal(error("unsell a b"), `Cannot run unsell: takes one ITEM only; usage: unsell ITEM`);
});

Deno.test("parseCommand reads set auto-buy on and off", () => {
  assert.deepEqual(parseCommand("set auto-buy on"), {
    ok: true,
    command: { name: "set", args: { setting: "auto-buy", value: true } },
  });
  assert.deepEqual(parseCommand("set auto-buy off"), {
    ok: true,
    command: { name: "set", args: { setting: "auto-buy", value: false } },
  });
  const usage = "; usage: set auto-buy on|off";
  assert.equal(error("set"), `Cannot run set: missing the setting, like auto-buy${usage}`);
  assert.equal(
    error("set colour red"),
    `Cannot run set: unknown setting "colour": the only one is auto-buy${usage}`,
  );
  assert.equal(error("set auto-buy"), `Cannot run set: auto-buy needs on or off${usage}`);
  assert.equal(
    error("set auto-buy yes"),
    `Cannot run set: auto-buy takes on or off, not "yes"${usage}`,
  );
  assert.equal(error("set auto-buy on now"), `Cannot run set: takes one value only${usage}`);
});

Deno.test("parseCommand does not echo a card number or expiry typed as a command", () => {
  const lines = [
    "4111111111111111",
    "4111 1111 1111 1111",
    "12/39",
    "4111.1111.1111.1111",
    "12.39",
  ];
  for (const line of lines) {
    const parsed = parseCommand(line);
    assert.equal(parsed.ok, false);
    assert.ok(!parsed.ok && !parsed.error.includes(line.split(" ")[0]!), line);
    assert.match(!parsed.ok ? parsed.error : "", /^Unknown command \(digits, not shown\)/);
  }
});

Deno.test("parseCommand takes exit and ? as quit and help", () => {
  assert.deepEqual(parseCommand("exit"), { ok: true, command: { name: "quit", args: [] } });
  assert.deepEqual(parseCommand("?"), { ok: true, command: { name: "help", args: [] } });
  assert.equal(error("exit now"), "Cannot run exit: takes no arguments; usage: quit");
});

Deno.test("parseCommand reads questions", () => {
  assert.deepEqual(parseCommand("questions"), {
    ok: true,
    command: { name: "questions", args: [] },
  });
  assert.match(helpText(), /^ {2}questions +List the questions waiting for an answer$/m);
});

Deno.test("parseCommand never shows zod's own wording", () => {
  for (
    const line of [
      `sell ${"x".repeat(65)} 500`,
      `buy ${"x".repeat(65)} 500`,
      `buy Mug 5 ${"d ".repeat(200)}`,
      "sell Lamp 99999999999",
    ]
  ) {
    assert.doesNotMatch(error(line), /Too big|Too small|expected string to have/, line);
  }
});

Deno.test("parseCommand reads edit: description and quantity only when given", () => {
  assert.deepEqual(parseCommand("edit Lamp 30 green lamp --floor 20 --quantity 2"), {
    ok: true,
    command: {
      name: "edit",
      args: { item: "Lamp", price: 30, description: "green lamp", floor: 20, quantity: 2 },
    },
  });
  assert.deepEqual(parseCommand("edit Lamp 30 --no-floor"), {
    ok: true,
    command: {
      name: "edit",
      args: { item: "Lamp", price: 30, description: undefined, floor: null, quantity: undefined },
    },
  });
  assert.deepEqual(parseCommand("edit Lamp 30 ''"), {
    ok: true,
    command: {
      name: "edit",
      args: { item: "Lamp", price: 30, description: "", floor: undefined, quantity: undefined },
    },
  });
  const bad = parseCommand("edit Lamp 30 --quantity 0");
  assert.ok(!bad.ok && bad.error.startsWith(`Cannot run edit: quantity "0" is not valid`));
});
