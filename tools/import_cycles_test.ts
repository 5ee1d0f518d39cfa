import assert from "node:assert/strict";
import { join } from "node:path";
import { checkImportCycles, findCycles, formatReport, type ImportGraph } from "./import_cycles.ts";

const SCRIPT = new URL("./import_cycles.ts", import.meta.url).pathname;

function graphOf(edges: Record<string, string[]>): ImportGraph {
  return new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));
}

/** Writes files (path → text) into a fresh temp dir and returns it. */
async function project(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "import_cycles_" });
  for (const [path, text] of Object.entries(files)) {
    const file = join(root, path);
    await Deno.mkdir(join(file, ".."), { recursive: true });
    await Deno.writeTextFile(file, text);
  }
  return root;
}

async function runScript(cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-run", SCRIPT],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("findCycles reports one shortest cycle through every module on a cycle", () => {
  const cycles = findCycles(graphOf({
    "a.ts": ["b.ts", "leaf.ts"],
    "b.ts": ["a.ts", "c.ts"],
    "c.ts": ["d.ts"],
    "d.ts": ["b.ts"],
    "self.ts": ["self.ts"],
    "leaf.ts": [],
    "chain.ts": ["leaf.ts", "a.ts"],
  }));
  assert.deepEqual(cycles, [
    ["a.ts", "b.ts", "a.ts"],
    ["c.ts", "d.ts", "b.ts", "c.ts"],
    ["self.ts", "self.ts"],
  ]);
});

Deno.test("findCycles finds nothing in a graph without cycles", () => {
  const graph = graphOf({
    "a.ts": ["b.ts", "c.ts"],
    "b.ts": ["c.ts"],
    "c.ts": [],
  });
  assert.deepEqual(findCycles(graph), []);
});

Deno.test("the import-cycle check reads type imports, re-exports and JSDoc imports", async (t) => {
  const cyclic = await project({
    "a.ts": 'import type { B } from "./b.ts";\nexport type A = B | 1;\n',
    "b.ts": 'export type { A } from "./a.ts";\nexport type B = 2;\n',
    "web/c.js": '/** @typedef {import("./d.js").D} C */\nexport const c = 1;\n',
    "web/d.js": '/** @import { C } from "./c.js" */\n/** @type {C} */\nexport const d = 2;\n',
    "lazy.ts": 'export const lazy = () => import("./eager.ts");\n',
    "eager.ts": 'import { lazy } from "./lazy.ts";\nimport { sep } from "node:path";\n' +
      "export const eager = [lazy, sep];\n",
    "mapped.ts": 'import { m } from "#back";\nexport const n = m;\n',
    "back.ts": 'import { n } from "./mapped.ts";\nexport const m = 1;\nexport const o = n;\n',
    "skipped/x.ts": 'import { y } from "./y.ts";\nexport const x = y;\n',
    "skipped/y.ts": 'import { x } from "./x.ts";\nexport const y = x;\n',
    "deno.json": JSON.stringify({ imports: { "#back": "./back.ts" }, exclude: ["skipped/"] }),
  });
  const clean = await project({
    "a.ts": 'import type { B } from "./b.ts";\nexport type A = B | 1;\n',
    "b.ts": 'export type { C as B } from "./c.ts";\n',
    "c.ts": "export type C = 2;\n",
    "lazy.ts": 'export const lazy = () => import("./eager.ts");\n',
    "eager.ts": 'import { lazy } from "./lazy.ts";\nexport const eager = lazy;\n',
  });
  try {
    await t.step(
      "each cycle is listed as a path; dynamic imports and excluded files are not",
      async () => {
        const report = await checkImportCycles(cyclic);
        assert.deepEqual(report.cycles, [
          ["a.ts", "b.ts", "a.ts"],
          ["back.ts", "mapped.ts", "back.ts"],
          ["web/c.js", "web/d.js", "web/c.js"],
        ]);
      },
    );

    await t.step("a tree without cycles is clean", async () => {
      const report = await checkImportCycles(clean);
      assert.deepEqual(report, { modules: 5, cycles: [] });
      assert.equal(formatReport(report), "No import cycles among 5 modules");
    });

    await t.step("the script fails on a cycle, naming it, and passes a clean tree", async () => {
      const failed = await runScript(cyclic);
      assert.equal(failed.code, 1, failed.stderr);
      assert.match(failed.stderr, /Found 3 import cycles among \d+ modules/);
      assert.match(failed.stderr, /^ {2}a\.ts → b\.ts → a\.ts$/m);
      assert.match(failed.stderr, /^ {2}web\/c\.js → web\/d\.js → web\/c\.js$/m);
      const passed = await runScript(clean);
      assert.equal(passed.code, 0, passed.stderr);
      assert.equal(passed.stdout.trim(), "No import cycles among 5 modules");
    });
  } finally {
    await Deno.remove(cyclic, { recursive: true });
    await Deno.remove(clean, { recursive: true });
  }
});
