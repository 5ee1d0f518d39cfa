/**
 * Runs after the whole end-to-end suite (test files run in name order): no
 * file any test left behind — logs, KV files — and no output of any server
 * or peer process holds a full card number or an expiry date.
 */
import assert from "node:assert/strict";
import { audit } from "./_process.ts";

Deno.test("no log, KV file or output of the suite holds a full card number or an expiry date", () => {
  if (audit.outputs === 0) {
    // Run on its own (deno test tests/zz_…): there is nothing to audit.
    return;
  }
  assert.ok(audit.files > 20, `only ${audit.files} files audited`);
  assert.deepEqual(audit.found, []);
});
