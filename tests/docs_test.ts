/**
 * The docs, checked against the code and against real runs:
 *
 * - the state diagrams of docs/architecture.md are the transition tables the
 *   machines are checked against (server/request_states.ts,
 *   peer/agent/request_states.ts, peer/agent/item_states.ts,
 *   peer/agent/registration_states.ts): an edge in a diagram that the code does
 *   not allow, or a move the code allows that no diagram shows, fails here;
 * - every relative link of every Markdown file leads to a file (and heading)
 *   that exists;
 * - the transcripts of a trade (README.md), of prices refused and changed,
 *   of `--json` and of the command line's errors (docs/guide.md) are what
 *   real `shop server` and `shop peer` processes print. `SHOP_UPDATE_DOCS=1`
 *   rewrites them from the run instead (`deno task docs:update`). The demo's transcript is checked by
 *   tests/e2e/demo_test.ts, which runs the demo anyway, and the PostgreSQL
 *   one by tests/e2e/demo_postgres_test.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { INITIAL_STATE, TRANSITIONS } from "../server/request_states.ts";
import { INITIAL_REQUEST_STATES, REQUEST_TRANSITIONS } from "../peer/agent/request_states.ts";
import { ITEM_MOVES, ITEM_TRANSITIONS } from "../peer/agent/item_states.ts";
import { REGISTRATION_MOVES, REGISTRATION_TRANSITIONS } from "../peer/agent/registration_states.ts";
import { ServerProcess } from "../demo/processes.ts";
import { ShopProcess, tempDir } from "./e2e/_process.ts";
import { MAIN } from "./e2e/_shop.ts";
import { checkTranscript, normalize, transcriptBlocks } from "./_transcripts.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README = new URL("../README.md", import.meta.url);
const GUIDE = new URL("../docs/guide.md", import.meta.url);
const ARCHITECTURE = await Deno.readTextFile(new URL("../docs/architecture.md", import.meta.url));
/** The permissions `deno task shop` gives the program. */
const PERMISSIONS = ["--allow-net", "--allow-read", "--allow-write", "--allow-env", "--allow-sys"];

/** The edges `a --> b` of the mermaid block that follows `heading` in docs/architecture.md. */
function diagram(heading: string): { from: string; to: string }[] {
  const at = ARCHITECTURE.indexOf(heading);
  assert.ok(at >= 0, `docs/architecture.md has "${heading}"`);
  const block = /```mermaid\n([\s\S]*?)```/.exec(ARCHITECTURE.slice(at));
  assert.ok(block, `a mermaid diagram after "${heading}"`);
  return [...block[1]!.matchAll(/^\s*(\S+) --> (\w+)/gm)].map(([, from, to]) => ({
    from: from!,
    to: to!,
  }));
}

/** The moves between distinct states of a table, as `a->b`. */
function moves(table: Readonly<Record<string, readonly string[]>>): string[] {
  return Object.entries(table).flatMap(([from, tos]) =>
    tos.filter((to) => to !== from).map((to) => `${from}->${to}`)
  ).sort();
}

function drawn(edges: { from: string; to: string }[]): string[] {
  const between = edges.filter(({ from, to }) => from !== "[*]" && to !== "[*]" && from !== to);
  return [...new Set(between.map(({ from, to }) => `${from}->${to}`))].sort();
}

Deno.test("the architecture's diagram of the server's search is the market's transition table", () => {
  const edges = diagram("The server's search");
  assert.deepEqual(drawn(edges), moves(TRANSITIONS));
  const starts = edges.filter(({ from }) => from === "[*]").map(({ to }) => to);
  assert.deepEqual([...new Set(starts)], [INITIAL_STATE]);
});

Deno.test("the architecture's diagram of the buyer's request is the agent's transition table", () => {
  const edges = diagram("The peer's side of a purchase, as a buyer");
  assert.deepEqual(drawn(edges), moves(REQUEST_TRANSITIONS));
  const starts = edges.filter(({ from }) => from === "[*]").map(({ to }) => to);
  assert.deepEqual([...new Set(starts)], [...INITIAL_REQUEST_STATES]);
});

Deno.test("the architecture's diagram of the seller's item is the agent's item table", () => {
  const edges = diagram("The peer's item, as a seller");
  assert.deepEqual(drawn(edges), moves(ITEM_TRANSITIONS));
  const starts = edges.filter(({ from }) => from === "[*]").map(({ to }) => to);
  assert.deepEqual([...new Set(starts)], [...ITEM_MOVES.initial]);
});

Deno.test("the architecture's diagram of the peer's registration is the agent's registration table", () => {
  const edges = diagram("The peer's registration");
  assert.deepEqual(drawn(edges), moves(REGISTRATION_TRANSITIONS));
  const starts = edges.filter(({ from }) => from === "[*]").map(({ to }) => to);
  assert.deepEqual([...new Set(starts)], [...REGISTRATION_MOVES.initial]);
});

/** Every Markdown file of the repository, as paths from its root. */
async function markdownFiles(dir = ROOT): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith(".") || ["node_modules", "shop-data"].includes(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory) found.push(...await markdownFiles(path));
    else if (entry.name.endsWith(".md")) found.push(relative(ROOT, path));
  }
  return found.sort();
}

/** The anchors GitHub makes of a Markdown file's headings. */
function anchors(markdown: string): Set<string> {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, "");
  return new Set(
    [...prose.matchAll(/^#{1,6} (.*)$/gm)].map(([, heading]) =>
      heading!.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, "").replaceAll(" ", "-")
    ),
  );
}

/** The relative links of a Markdown text (code blocks and code spans left out). */
function relativeLinks(markdown: string): string[] {
  const prose = markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)].map(([, target]) => target!)
    .filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

Deno.test("every relative link in the Markdown files leads to a file and heading that exist", async () => {
  const files = await markdownFiles();
  assert.ok(files.includes("README.md") && files.includes("docs/guide.md"), files.join(", "));
  const broken: string[] = [];
  let checked = 0;
  for (const file of files) {
    const text = await Deno.readTextFile(join(ROOT, file));
    for (const link of relativeLinks(text)) {
      checked++;
      const [path, anchor] = link.split("#") as [string, string | undefined];
      const target = path === "" ? join(ROOT, file) : join(ROOT, dirname(file), path);
      const stat = await Deno.stat(target).catch(() => undefined);
      if (!stat) {
        broken.push(`${file}: ${link} (no ${relative(ROOT, target)})`);
      } else if (anchor !== undefined && target.endsWith(".md")) {
        if (!anchors(await Deno.readTextFile(target)).has(anchor)) {
          broken.push(`${file}: ${link} (no heading #${anchor} in ${relative(ROOT, target)})`);
        }
      }
    }
  }
  assert.ok(checked > 20, `found only ${checked} relative links`);
  assert.deepEqual(broken, [], "links that lead nowhere");
});

Deno.test("every transcript in the docs is checked by a test", async () => {
  // The names the tests check: here, in demo_test.ts and in demo_postgres_test.ts.
  const checked = new Set(["demo", "trade", "prices", "json", "cli", "postgres"]);
  const unchecked: string[] = [];
  for (const file of await markdownFiles()) {
    const text = await Deno.readTextFile(join(ROOT, file));
    const blocks = transcriptBlocks(text);
    for (const block of blocks) {
      if (!checked.has(block.name)) unchecked.push(`${file}: ${block.name}`);
    }
    // A console session without a transcript comment is a transcript no test checks.
    const sessions = [...text.matchAll(/^ *```console$/gm)].length;
    if (sessions > blocks.length) {
      unchecked.push(`${file}: ${sessions - blocks.length} console block(s) without a name`);
    }
  }
  assert.deepEqual(unchecked, []);
});

/**
 * A terminal's transcript of a piped `shop` process: the command, then each
 * line typed followed by what was printed by the time the line it waits for
 * came (piped, a peer echoes nothing and shows no prompt).
 */
class Terminal {
  readonly lines: string[];
  readonly #process: ShopProcess;
  readonly #present: (line: string) => string;
  #seen = 0;
  #seenErrors = 0;

  constructor(process: ShopProcess, command: string, present: (line: string) => string) {
    this.#process = process;
    this.#present = present;
    this.lines = [`$ ${command}`];
  }

  /**
   * Takes what was printed since: standard output, then standard error
   * (where the peer writes its errors), as a terminal shows both.
   */
  #collect(): void {
    const { lines, stderr } = this.#process;
    for (; this.#seen < lines.length; this.#seen++) {
      this.lines.push(this.#present(lines[this.#seen]!));
    }
    for (; this.#seenErrors < stderr.length; this.#seenErrors++) {
      this.lines.push(this.#present(stderr[this.#seenErrors]!));
    }
  }

  /** Waits for a line on standard output or standard error, then takes what was printed. */
  async waitFor(until: RegExp): Promise<void> {
    const { lines, stderr } = this.#process;
    const deadline = Date.now() + 15_000;
    const matched = () =>
      lines.slice(this.#seen).some((line) => until.test(line)) ||
      stderr.slice(this.#seenErrors).some((line) => until.test(line));
    while (!matched()) {
      if (Date.now() > deadline) {
        throw new Error(
          `No output line matched ${String(until)}; stdout:\n${lines.join("\n")}\nstderr:\n${
            stderr.join("\n")
          }`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // A line and the ones printed with it reach the two pipes apart.
    await new Promise((resolve) => setTimeout(resolve, 50));
    this.#collect();
  }

  /** Types a line and waits for the last line it prints. */
  async type(line: string, until: RegExp): Promise<void> {
    this.#collect();
    this.lines.push(line);
    await this.#process.send(line);
    await this.waitFor(until);
  }
}

/** Runs `shop ARGS...` to its end in a directory, as `deno task -q shop` would. */
async function run(
  args: string[],
  { cwd, stdin }: { cwd: string; stdin?: string },
): Promise<{ code: number; lines: string[] }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, MAIN, ...args],
    cwd,
    env: { NO_COLOR: "1" },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { code: output.code, lines: text.replace(/\n$/, "").split("\n") };
}

Deno.test("the docs' transcripts of a trade, prices, --json and errors are what the program prints", async (t) => {
  await using dir = await tempDir();
  const data = join(dir.path, "shop-data");
  await Deno.mkdir(data, { mode: 0o700 });
  await using server = await ServerProcess.start(data);
  const port = server.port;
  // As a user would see it: the server on 0.0.0.0:5000, the data in ./shop-data.
  const atServer = (line: string) =>
    line.replace(
      /(127\.0\.0\.1|0\.0\.0\.0):(\d+)/g,
      (all, _host, at) => Number(at) === port ? "0.0.0.0:5000" : all,
    ).replaceAll(data, "./shop-data");
  const atPeer = (line: string) =>
    line.replaceAll(`127.0.0.1:${port}`, "127.0.0.1:5000").replaceAll(data, "./shop-data");
  const peerArgs = (name: string, ...extra: string[]) => [
    "peer",
    "--name",
    name,
    "--server",
    `127.0.0.1:${port}`,
    "--host",
    "127.0.0.1",
    "--data",
    data,
    ...extra,
  ];

  // The command line's errors run beside the trade (the port in use is the server's), in a
  // folder of their own: none of them may create anything there.
  const cwd = join(dir.path, "cli");
  await Deno.mkdir(cwd, { mode: 0o700 });
  const errors = (async () => {
    const lines: string[] = [];
    const commands: [string, string[]][] = [
      ["deno task -q shop", []],
      ["deno task -q shop peer --name José", ["peer", "--name", "José"]],
      [
        "deno task -q shop peer --name alice --data /etc/passwd",
        ["peer", "--name", "alice", "--data", "/etc/passwd"],
      ],
      ["deno task -q shop server --port 5000", ["server", "--port", String(port)]],
    ];
    const runs = await Promise.all(commands.map(([, args]) => run(args, { cwd })));
    commands.forEach(([shown], index) => {
      const { code, lines: printed } = runs[index]!;
      lines.push(`$ ${shown}`, ...printed.map(atServer), "$ echo $?", String(code));
    });
    assert.deepEqual([...Deno.readDirSync(cwd)], [], "the failed commands created nothing");
    return lines;
  })();

  const payment = async (name: string, card: string) => {
    const file = join(dir.path, `${name}-card.json`);
    await Deno.writeTextFile(
      file,
      JSON.stringify({ card, expiry: "12/39", address: "42 Main Street, Springfield" }),
    );
    return file;
  };
  const start = async (name: string, card: string) => {
    const process = new ShopProcess(peerArgs(name, "--payment", await payment(name, card)), {
      stdin: true,
    });
    const terminal = new Terminal(
      process,
      `deno task -q shop peer --name ${name} --payment ${name}-card.json`,
      atPeer,
    );
    await terminal.waitFor(/ ready\b/);
    return { process, terminal };
  };

  await t.step("a trade in two terminals (README.md)", async () => {
    // Each line typed waits for the last line it prints, matched loosely so that a change of
    // wording leaves the run intact for `deno task docs:update`.
    const bob = await start("bob", "5555555555554444");
    await using _bob = bob.process;
    await bob.terminal.type("register", /\bregistered\b/i);
    await bob.terminal.type("sell Lamp 25 brass desk lamp --floor 20", /Lamp/);
    await bob.terminal.type("inventory", /Lamp.*25/);
    const alice = await start("alice", "4111111111111111");
    await using _alice = alice.process;
    await alice.terminal.type("register", /\bregistered\b/i);
    await alice.terminal.type("browse", /Lamp.*25/);
    await alice.terminal.type("buy Lamp 30 a desk lamp", /\[y\/N\]/);
    await alice.terminal.type("y", /\bships? to\b/i);
    await alice.terminal.type("requests", /\bbought\b/i);
    await bob.terminal.waitFor(/\bships? to\b/i);
    await bob.terminal.type("history", /\bfees\b/i);
    await server.waitFor(/\bpaid\b/, { stderr: true });
    const serverLines = [
      "$ deno task start",
      ...server.lines.map(atServer),
      ...server.stderr.map(atServer),
    ];
    await checkTranscript(README, "trade", [
      ...serverLines,
      "",
      ...bob.terminal.lines,
      "",
      ...alice.terminal.lines,
    ]);
  });

  await t.step("prices refused and changed (docs/guide.md)", async () => {
    const process = new ShopProcess(peerArgs("carol"), { stdin: true });
    await using _carol = process;
    const carol = new Terminal(process, "deno task -q shop peer --name carol", atPeer);
    await carol.waitFor(/ ready\b/);
    await carol.type("register", /\bregistered\b/i);
    await carol.type("sell Pen 0.000001", /0\.000001/);
    await carol.type("sell Lamp 25 --floor 30", /\bfloor\b/);
    await carol.type("sell Lamp 25 brass desk lamp --floor 20", /Lamp/);
    await carol.type("sell Lamp 30", /Lamp/);
    await carol.type("price Lamp 24.99 --floor 20", /24\.99/);
    await carol.type("inventory", /Lamp.*24\.99/);
    await carol.type("invntory", /invntory/);
    await checkTranscript(GUIDE, "prices", carol.lines);
  });

  await t.step("--json (docs/guide.md)", async () => {
    // `status` waits for `register`'s answer, so the lines come in this order.
    const { lines } = await run(peerArgs("dave", "--json"), {
      cwd: dir.path,
      stdin: "register\nstatus\n",
    });
    await checkTranscript(GUIDE, "json", [
      "$ printf 'register\\nstatus\\n' | deno task -q shop peer --name dave --json",
      ...lines.map(atPeer),
    ]);
  });

  await t.step("errors on the command line (docs/guide.md)", async () => {
    await checkTranscript(GUIDE, "cli", await errors);
  });
});

Deno.test("normalize blanks what changes between runs, not what a user checks", () => {
  const line = normalize(
    "alice ready on UDP 38617 and TCP 46037; server 127.0.0.1:5000; key x8-rAr-y-hMx. (alice-0dc32b92-2, s5835yz-1)",
  );
  assert.equal(
    line,
    "alice ready on UDP PORT and TCP PORT; server 127.0.0.1:5000; key FP. (alice-RQ-2, sID-1)",
  );
  // A fingerprint may end in "-" (base64url): no word boundary follows it.
  assert.equal(normalize("key E-7ou6g7z0l-. Type help"), "key FP. Type help");
  // Prices, items, names and the server's address are compared as they are.
  assert.notEqual(normalize("Sold Lamp to alice for 25"), normalize("Sold Lamp to alice for 24"));
  assert.notEqual(normalize("server 127.0.0.1:5000"), normalize("server 127.0.0.1:5001"));
  assert.notEqual(normalize("card ************4444"), normalize("card ************1111"));
});
