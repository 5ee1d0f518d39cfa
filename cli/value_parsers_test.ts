import assert from "node:assert/strict";
import { formatMessage } from "@optique/core/message";
import type { ValueParserResult } from "@optique/core/valueparser";
import { z } from "zod";
import {
  Duration,
  duration,
  formatDuration,
  fromZod,
  hostPort,
  HostPortText,
  LogLevel,
  logLevel,
  peerName,
  port,
  PortNumber,
  shownAs,
} from "./value_parsers.ts";

/** The first issue's message when `schema` rejects `input`. */
function issueOf(schema: z.ZodType, input: string): string {
  const result = schema.safeParse(input);
  assert.equal(result.success, false, `${JSON.stringify(input)} was accepted`);
  return result.error!.issues[0]!.message;
}

/** The text of a failed optique parse, failing the test if it succeeded. */
function failureText<T>(result: ValueParserResult<T>): string {
  if (result.success) assert.fail(`Expected a failure, got ${JSON.stringify(result.value)}`);
  return formatMessage(result.error, { quotes: true, colors: false });
}

Deno.test("Duration reads a number and a unit as milliseconds", async (t) => {
  const cases: [string, number][] = [
    ["500ms", 500],
    ["0ms", 0],
    ["10s", 10_000],
    ["1.5s", 1_500],
    ["0.25s", 250],
    ["5m", 300_000],
    ["1.5m", 90_000],
    ["1h", 3_600_000],
    ["2h", 7_200_000],
    ["010s", 10_000],
    ["1.5ms", 2],
  ];
  for (const [text, ms] of cases) {
    await t.step(`${text} -> ${ms}`, () => {
      assert.equal(Duration.parse(text), ms);
    });
  }
});

Deno.test("Duration rejects text without a known unit or with a sign", async (t) => {
  for (
    const text of ["10", "5x", "-1s", "", "s", "1.s", ".5s", "1 s", "10S", "1e3ms", "+1s", "1h30m"]
  ) {
    await t.step(JSON.stringify(text), () => {
      assert.equal(issueOf(Duration, text), "expected a duration like 500ms, 10s or 5m");
    });
  }
});

Deno.test("formatDuration writes the largest whole unit", () => {
  assert.equal(formatDuration(0), "0ms");
  assert.equal(formatDuration(500), "500ms");
  assert.equal(formatDuration(1_500), "1500ms");
  assert.equal(formatDuration(10_000), "10s");
  assert.equal(formatDuration(90_000), "90s");
  assert.equal(formatDuration(300_000), "5m");
  assert.equal(formatDuration(5_400_000), "90m");
  assert.equal(formatDuration(3_600_000), "1h");
  assert.equal(formatDuration(7_200_000), "2h");
});

Deno.test("formatDuration writes what Duration reads back", () => {
  for (const ms of [0, 1, 999, 1_000, 61_000, 60_000, 3_600_000, 3_660_000, 86_400_000]) {
    assert.equal(Duration.parse(formatDuration(ms)), ms);
  }
});

Deno.test("PortNumber reads 0 to 65535", () => {
  assert.equal(PortNumber.parse("0"), 0);
  assert.equal(PortNumber.parse("5000"), 5000);
  assert.equal(PortNumber.parse("65535"), 65535);
  assert.equal(PortNumber.parse("08080"), 8080);
});

Deno.test("PortNumber rejects a port out of range or not a number", async (t) => {
  for (
    const text of [
      "65536",
      "70000",
      "99999",
      "123456",
      "-1",
      "",
      "abc",
      "1e3",
      "0x10",
      "80.0",
      " 80",
    ]
  ) {
    await t.step(JSON.stringify(text), () => {
      assert.equal(issueOf(PortNumber, text), "expected a port number 0-65535");
    });
  }
});

Deno.test("HostPortText reads HOST:PORT", async (t) => {
  const cases: [string, string, number][] = [
    ["127.0.0.1:5000", "127.0.0.1", 5000],
    ["localhost:5000", "localhost", 5000],
    ["shop.example.com:1", "shop.example.com", 1],
    ["[::1]:5000", "::1", 5000],
    ["[fe80::1:2]:65535", "fe80::1:2", 65535],
  ];
  for (const [text, hostname, portValue] of cases) {
    await t.step(text, () => {
      assert.deepEqual(HostPortText.parse(text), { hostname, port: portValue });
    });
  }
});

Deno.test("HostPortText rejects a missing port or host", async (t) => {
  for (
    const text of [
      "127.0.0.1",
      "localhost",
      "localhost:",
      ":5000",
      "::1:5000",
      "[::1]5000",
      "[]:5000",
      "a b:5000",
      "host:abc",
      "",
    ]
  ) {
    await t.step(JSON.stringify(text), () => {
      assert.equal(issueOf(HostPortText, text), "expected HOST:PORT like 127.0.0.1:5000");
    });
  }
});

Deno.test("HostPortText rejects port 0 and ports above 65535", async (t) => {
  for (const text of ["127.0.0.1:0", "localhost:70000", "[::1]:0", "localhost:99999"]) {
    await t.step(text, () => {
      assert.equal(issueOf(HostPortText, text), "port must be 1 to 65535");
    });
  }
});

Deno.test("duration() parses option text to milliseconds", () => {
  assert.deepEqual(duration().parse("10s"), { success: true, value: 10_000 });
  assert.deepEqual(duration().parse("250ms"), { success: true, value: 250 });
});

Deno.test("duration() fails with a message that quotes the input and says what to type", () => {
  assert.equal(
    failureText(duration().parse("10")),
    'Cannot use "10": expected a duration like 500ms, 10s or 5m',
  );
});

Deno.test("duration() formats defaults in the largest unit", () => {
  const parser = duration();
  assert.equal(parser.metavar, "DURATION");
  assert.equal(parser.format(300_000), "5m");
  assert.equal(parser.format(250), "250ms");
});

Deno.test("port() accepts 0 and rejects 70000", () => {
  assert.deepEqual(port().parse("0"), { success: true, value: 0 });
  assert.deepEqual(port().parse("5000"), { success: true, value: 5000 });
  assert.equal(
    failureText(port().parse("70000")),
    'Cannot use "70000": expected a port number 0-65535',
  );
  assert.equal(port().metavar, "PORT");
  assert.equal(port().format(5000), "5000");
});

Deno.test("hostPort() parses and formats HOST:PORT", async (t) => {
  const parser = hostPort();
  await t.step("an IPv4 address", () => {
    assert.deepEqual(parser.parse("127.0.0.1:5000"), {
      success: true,
      value: { hostname: "127.0.0.1", port: 5000 },
    });
  });
  await t.step("an IPv6 address in brackets", () => {
    assert.deepEqual(parser.parse("[::1]:5000"), {
      success: true,
      value: { hostname: "::1", port: 5000 },
    });
  });
  await t.step("port 0 fails", () => {
    assert.equal(
      failureText(parser.parse("localhost:0")),
      'Cannot use "localhost:0": port must be 1 to 65535',
    );
  });
  await t.step("a missing port fails", () => {
    assert.equal(
      failureText(parser.parse("localhost")),
      'Cannot use "localhost": expected HOST:PORT like 127.0.0.1:5000',
    );
  });
  await t.step("format puts IPv6 hosts back in brackets", () => {
    assert.equal(parser.format({ hostname: "::1", port: 5000 }), "[::1]:5000");
    assert.equal(parser.format({ hostname: "127.0.0.1", port: 5000 }), "127.0.0.1:5000");
  });
  await t.step("format writes what parse reads back", () => {
    for (const text of ["[::1]:5000", "localhost:80", "10.0.0.1:65535"]) {
      const result = parser.parse(text);
      assert.ok(result.success);
      assert.equal(parser.format(result.value), text);
    }
  });
  assert.equal(parser.metavar, "HOST:PORT");
});

Deno.test("logLevel() accepts the four levels only", () => {
  for (const level of LogLevel.options) {
    assert.deepEqual(logLevel().parse(level), { success: true, value: level });
  }
  assert.deepEqual(LogLevel.options, ["debug", "info", "warning", "error"]);
  assert.equal(
    failureText(logLevel().parse("verbose")),
    'Cannot use "verbose": expected debug, info, warning or error',
  );
  assert.equal(failureText(logLevel().parse("DEBUG")).startsWith('Cannot use "DEBUG"'), true);
});

Deno.test("fromZod uses the first issue's message and the given metavar and format", () => {
  const even = z.string().regex(/^[0-9]+$/, "expected digits").transform(Number).pipe(
    z.number().refine((n) => n % 2 === 0, "expected an even number"),
  );
  const parser = fromZod(even, {
    metavar: "EVEN",
    placeholder: 0,
    format: (value) => `#${value}`,
  });
  assert.equal(parser.mode, "sync");
  assert.equal(parser.metavar, "EVEN");
  assert.equal(parser.placeholder, 0);
  assert.deepEqual(parser.parse("42"), { success: true, value: 42 });
  assert.equal(failureText(parser.parse("x")), 'Cannot use "x": expected digits');
  assert.equal(failureText(parser.parse("3")), 'Cannot use "3": expected an even number');
  assert.equal(parser.format(4), "#4");
});

Deno.test("fromZod formats with String when no format is given", () => {
  const parser = fromZod(z.string().transform(Number), { metavar: "N", placeholder: 0 });
  assert.equal(parser.format(7), "7");
});

Deno.test("logLevel() offers its levels to shell completion and help", () => {
  const parser = logLevel();
  assert.deepEqual(parser.choices, ["debug", "info", "warning", "error"]);
  assert.deepEqual([...parser.suggest!("")].map((s) => s.kind === "literal" && s.text), [
    "debug",
    "info",
    "warning",
    "error",
  ]);
  assert.deepEqual([...parser.suggest!("w")], [{ kind: "literal", text: "warning" }]);
});

Deno.test("shownAs shows a default as typed, without quotes", () => {
  assert.equal(
    formatMessage(shownAs("5000").message, { quotes: true, colors: false }),
    "5000",
  );
});

Deno.test("peerName() accepts what the wire's Name allows", () => {
  for (const name of ["alice", "Bob-2", "x_y", "7", "a".repeat(32)]) {
    assert.deepEqual(peerName().parse(name), { success: true, value: name });
  }
});

Deno.test("peerName() says why a name is refused, as a sentence", async (t) => {
  const cases: [string, string][] = [
    [
      "José",
      'Cannot use name "José": names are letters a-z or A-Z, digits, _ and -: "José" has "é"',
    ],
    [
      "../etc",
      'Cannot use name "../etc": names are letters a-z or A-Z, digits, _ and -: "../etc" has "."',
    ],
    ["a".repeat(40), `Cannot use name "${"a".repeat(40)}": at most 32 characters, not 40`],
    ["-x", 'Cannot use name "-x": a name starts with a letter or a digit'],
    ["", 'Cannot use name "": a name needs at least one character'],
  ];
  for (const [input, expected] of cases) {
    await t.step(JSON.stringify(input), () => {
      assert.equal(failureText(peerName().parse(input)), expected);
    });
  }
});
