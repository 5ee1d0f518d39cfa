import assert from "node:assert/strict";
import { applyWrites } from "./kv_apply.ts";

type Rec = { key: readonly ["thing", string]; value: { n: number } };

Deno.test("applyWrites stores saves and deletes of one batch in one commit, on a real KV file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const kv = await Deno.openKv(`${dir}/test.kv`);
    try {
      await applyWrites<Rec>(kv, [
        { kind: "save", key: ["thing", "a"], value: { n: 1 } },
        { kind: "save", key: ["thing", "b"], value: { n: 2 } },
      ]);
      await applyWrites<Rec>(kv, [
        { kind: "delete", key: ["thing", "a"] },
        { kind: "save", key: ["thing", "b"], value: { n: 3 } },
      ]);
      assert.equal((await kv.get(["thing", "a"])).value, null);
      assert.deepEqual((await kv.get(["thing", "b"])).value, { n: 3 });
      await applyWrites<Rec>(kv, []);
    } finally {
      kv.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
