import assert from "node:assert/strict";
import { splitWords } from "./shell_words.ts";

Deno.test("splitWords splits at runs of whitespace", () => {
  assert.deepEqual(splitWords("sell Laptop 500"), ["sell", "Laptop", "500"]);
  assert.deepEqual(splitWords("  sell   Laptop\t500  "), ["sell", "Laptop", "500"]);
  assert.deepEqual(splitWords("a\nb\r\nc"), ["a", "b", "c"]);
});

Deno.test("splitWords gives no words for an empty or blank line", () => {
  assert.deepEqual(splitWords(""), []);
  assert.deepEqual(splitWords("   "), []);
  assert.deepEqual(splitWords("\t \n"), []);
});

Deno.test("splitWords groups words in double quotes", () => {
  assert.deepEqual(splitWords(`sell Laptop 500 "a fast one"`), [
    "sell",
    "Laptop",
    "500",
    "a fast one",
  ]);
  assert.deepEqual(splitWords(`"  padded  "`), ["  padded  "]);
});

Deno.test("splitWords groups words in single quotes", () => {
  assert.deepEqual(splitWords("say 'it is \"fine\"' now"), ["say", 'it is "fine"', "now"]);
});

Deno.test("splitWords keeps an empty quoted word", () => {
  assert.deepEqual(splitWords(`a "" b`), ["a", "", "b"]);
  assert.deepEqual(splitWords("''"), [""]);
});

Deno.test("splitWords joins quoted and bare parts of one word", () => {
  assert.deepEqual(splitWords(`pre"mid dle"'post fix'end`), ["premid dlepost fixend"]);
});

Deno.test("splitWords treats a backslash as an escape outside single quotes", async (t) => {
  await t.step("an escaped space keeps a word together", () => {
    assert.deepEqual(splitWords("a\\ b c"), ["a b", "c"]);
  });
  await t.step("an escaped quote is literal", () => {
    assert.deepEqual(splitWords(`say \\"hi`), ["say", `"hi`]);
    assert.deepEqual(splitWords(`"a\\"b"`), [`a"b`]);
  });
  await t.step("an escaped backslash is one backslash", () => {
    assert.deepEqual(splitWords("a\\\\b"), ["a\\b"]);
  });
  await t.step("an escaped space alone is a word", () => {
    assert.deepEqual(splitWords("\\ "), [" "]);
  });
  await t.step("inside single quotes a backslash is literal", () => {
    assert.deepEqual(splitWords("'a\\b' c"), ["a\\b", "c"]);
  });
});

Deno.test("splitWords throws SyntaxError on an unclosed quote", async (t) => {
  const cases: [string, string][] = [
    [`say "hello`, '"'],
    ["say 'hello", "'"],
    [`"`, '"'],
    [`'it"s`, "'"],
  ];
  for (const [line, quote] of cases) {
    await t.step(line, () => {
      assert.throws(() => splitWords(line), (error: unknown) => {
        assert.ok(error instanceof SyntaxError);
        assert.equal(
          error.message,
          `Unclosed quote ${quote}: close it before the end of the line`,
        );
        return true;
      });
    });
  }
});

Deno.test("splitWords throws SyntaxError on a line ending in a backslash", () => {
  assert.throws(() => splitWords("quit \\"), SyntaxError);
  assert.throws(() => splitWords("\\"), /Cannot end a line with a backslash/);
});
