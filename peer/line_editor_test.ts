import assert from "node:assert/strict";
import { LineEditor } from "./line_editor.ts";

/** An editor whose screen output is collected. */
function editor(): { editor: LineEditor; screen: string[] } {
  const screen: string[] = [];
  return {
    editor: new LineEditor({ write: (text) => screen.push(text), prompt: "alice> " }),
    screen,
  };
}

const lines = (results: ReturnType<LineEditor["keys"]>) =>
  results.map((result) => result.kind === "line" ? result.text : result.kind);

const LEFT = "\x1b[D";
const RIGHT = "\x1b[C";
const UP = "\x1b[A";
const DOWN = "\x1b[B";
const HOME = "\x1b[H";
const END = "\x1b[F";
/** The cursor moved back at the end of a redraw. */
// deno-lint-ignore no-control-regex -- a terminal's escape sequence
const CURSOR_BACK = /\x1b\[\d+D$/;

Deno.test("LineEditor inserts at the cursor moved with left, right, home and end", () => {
  const { editor: e } = editor();
  assert.deepEqual(lines(e.keys(`sel Lamp${HOME}${RIGHT}${RIGHT}${RIGHT}l${END} 25\r`)), [
    "sell Lamp 25",
  ]);
  assert.deepEqual(lines(e.keys(`buy 5${LEFT}${LEFT}Mug\r`)), ["buyMug 5"]);
});

Deno.test("LineEditor deletes with backspace and Delete", () => {
  const { editor: e } = editor();
  assert.deepEqual(lines(e.keys("statuss\x7f\r")), ["status"]);
  assert.deepEqual(lines(e.keys(`xhelp${HOME}\x1b[3~\r`)), ["help"]);
  assert.deepEqual(lines(e.keys(`\x7f\x7fok\r`)), ["ok"]);
});

Deno.test("LineEditor recalls earlier lines with up and down, and the draft after them", () => {
  const { editor: e } = editor();
  e.keys("register\rstatus\rstatus\r");
  assert.deepEqual(e.history, ["register", "status"]);
  e.keys(`inv${UP}`);
  assert.equal(e.line, "status");
  e.keys(UP);
  assert.equal(e.line, "register");
  e.keys(UP);
  assert.equal(e.line, "register");
  e.keys(`${DOWN}${DOWN}`);
  assert.equal(e.line, "inv");
  assert.deepEqual(lines(e.keys(`${UP}${UP}\r`)), ["register"]);
});

Deno.test("LineEditor takes an escape sequence split across reads as one key", () => {
  const { editor: e } = editor();
  e.keys("ab\x1b");
  e.keys("[");
  e.keys("Dx\r");
  assert.deepEqual(e.history, ["axb"]);
});

Deno.test("LineEditor ends input at Ctrl-D on an empty line, and Ctrl-C drops a line", () => {
  const { editor: e } = editor();
  assert.deepEqual(lines(e.keys("oops\x03")), []);
  assert.equal(e.line, "");
  // On an empty line Ctrl-C is for the reader (decline the question on
  // screen, or say how to leave); it does not end input.
  assert.deepEqual(e.keys("\x03"), [{ kind: "abort", key: "\x03" }]);
  assert.deepEqual(lines(e.keys("\x04")), ["end"]);
});

Deno.test("LineEditor keeps answers to questions, and digits, out of the history", () => {
  const { editor: e } = editor();
  e.keys("status\r");
  e.answering = true;
  assert.deepEqual(lines(e.keys("y\r42 Main St\r")), ["y", "42 Main St"]);
  e.answering = false;
  assert.deepEqual(lines(e.keys("4111 1111 1111 1111\rhelp\r")), ["4111 1111 1111 1111", "help"]);
  assert.deepEqual(e.history, ["status", "help"]);
});

Deno.test("LineEditor scrolls a line wider than the terminal within one row", () => {
  const screen: string[] = [];
  const e = new LineEditor({
    write: (text) => screen.push(text),
    prompt: "alice> ",
    columns: () => 30,
  });
  const long = `sell ${"x".repeat(60)}END`;
  e.keys(long);
  // Every redraw is the prompt and what fits after it, never wider.
  for (const draw of screen) {
    const shown = draw.replace("\r\x1b[K", "").replace(CURSOR_BACK, "");
    assert.ok(shown.length <= 29, `${JSON.stringify(shown)} is wider than the terminal`);
    assert.ok(shown.startsWith("alice> "));
  }
  assert.ok(screen.at(-1)!.endsWith("xxEND"), "the end of the line, where the cursor is, shows");
  // Home shows the start; the line entered is the whole of it.
  e.keys(HOME);
  assert.equal(screen.at(-1)!.replace(CURSOR_BACK, ""), `\r\x1b[Kalice> ${long.slice(0, 22)}`);
  assert.deepEqual(lines(e.keys("\r")), [long]);
});

Deno.test("LineEditor prints an error to standard error, then draws the line again", () => {
  const out: string[] = [];
  const err: string[] = [];
  const e = new LineEditor({
    write: (text) => out.push(text),
    writeError: (text) => err.push(text),
    prompt: "alice> ",
  });
  e.keys("bu");
  out.length = 0;
  e.print('Error: Unknown command "x"', { error: true });
  assert.deepEqual(err, ['Error: Unknown command "x"\r\n']);
  assert.deepEqual(out, ["\r\x1b[K", "\r\x1b[Kalice> bu"]);
});

Deno.test("LineEditor shows nothing of a secret and keeps it out of the history", () => {
  const { editor: e, screen } = editor();
  e.secret = true;
  const before = screen.length;
  assert.deepEqual(lines(e.keys("4111111111111111\r")), ["4111111111111111"]);
  assert.ok(!screen.slice(before).join("").includes("4111"), "the card was not echoed");
  assert.deepEqual(e.history, []);
  assert.deepEqual(e.keys("12\x03"), [{ kind: "abort", key: "\x03" }]);
});

Deno.test("LineEditor says at the prompt when what is typed is hidden", () => {
  const { editor: e, screen } = editor();
  e.secret = true;
  assert.equal(screen.at(-1), "\r\x1b[Kalice> (hidden) ");
  e.keys("4111\r");
  assert.equal(screen.at(-1), "\r\x1b[Kalice> (hidden) ", "still hidden until told otherwise");
  e.secret = false;
  assert.equal(screen.at(-1), "\r\x1b[Kalice> ");
});

Deno.test("LineEditor prints output above the line being typed and draws it again", () => {
  const { editor: e, screen } = editor();
  e.keys("buy La");
  screen.length = 0;
  e.print("FOUND Lamp 25 from bob\nsecond line");
  assert.equal(
    screen.join(""),
    "\r\x1b[KFOUND Lamp 25 from bob\r\nsecond line\r\n\r\x1b[Kalice> buy La",
  );
});

Deno.test("LineEditor places the cursor by display width after wide characters", () => {
  const { editor: e, screen } = editor();
  e.keys(`日本x${LEFT}`);
  assert.equal(screen.at(-1), "\r\x1b[Kalice> 日本x\x1b[1D");
  e.keys(LEFT);
  assert.equal(screen.at(-1), "\r\x1b[Kalice> 日本x\x1b[3D");
});
