/** Records as table rows and back, without a database. */
import assert from "node:assert/strict";
import type { Mutation, RequestRecord } from "../records.ts";
import {
  ledgerEntry,
  listingRecord,
  offerRecord,
  peerRecord,
  planBatch,
  requestRecord,
} from "./_postgres_rows.ts";
import { dollarQuote } from "./_postgres_schema.ts";
import { AUTHENTICATED, marketBatches } from "./_test_market.ts";

/** A row as it comes back: `more` through JSON, as jsonb keeps it. */
function throughJson<T extends { more: unknown }>(row: T): T {
  return { ...row, more: JSON.parse(JSON.stringify(row.more)) };
}

Deno.test("every record of a driven market comes back from its row as it was", async () => {
  const { batches } = marketBatches();
  const mutations = batches.flat();
  let checked = 0;
  for (const mutation of mutations) {
    if (mutation.kind !== "save") continue;
    const plan = await planBatch([mutation], []);
    const back = [
      ...plan.peers.saves.map((row) => peerRecord(throughJson(row))),
      ...plan.requests.saves.map((row) => requestRecord(throughJson(row))),
      ...plan.offers.saves.map((row) => offerRecord(throughJson(row))),
      ...plan.listings.saves.map((row) => listingRecord(throughJson(row))),
      ...plan.ledger.map((row) => ledgerEntry(throughJson(row))),
    ];
    assert.deepStrictEqual(back, [mutation.value], JSON.stringify(mutation.key));
    checked++;
  }
  assert.ok(checked > 30, `${checked} records`);
});

Deno.test("an authenticated peer keeps its key in a column, with its fingerprint", async () => {
  const plan = await planBatch(
    [{ kind: "save", key: ["peer", "keyed"], value: AUTHENTICATED }],
    [],
  );
  const [row] = plan.peers.saves;
  assert.equal(row?.key, AUTHENTICATED.auth!.key);
  assert.match(row?.key_fingerprint ?? "", /^[A-Za-z0-9_-]{12}$/);
  assert.deepEqual(row?.more, {
    extensions: ["from", "ack", "book"],
    auth: {
      ca: AUTHENTICATED.auth!.ca,
      keys: AUTHENTICATED.auth!.keys,
      ts: AUTHENTICATED.auth!.ts,
    },
  });
});

Deno.test("a batch plans the last write of each key; a departed peer's mark goes", async () => {
  const peer = (name: string, udpPort: number): Mutation => ({
    kind: "save",
    key: ["peer", name],
    value: {
      name,
      ip: "127.0.0.1",
      udpPort,
      tcpPort: 2,
      source: { hostname: "127.0.0.1", port: udpPort },
      registeredAt: 0,
    },
  });
  const plan = await planBatch(
    [peer("a", 1), peer("b", 1), { kind: "delete", key: ["peer", "a"] }, peer("b", 3)],
    [["a", { seq: "1", session: "s" }], ["b", { seq: "2", session: "s" }]],
  );
  assert.deepEqual(plan.peers.deletes, ["a"]);
  assert.deepEqual(plan.peers.saves.map((row) => [row.name, row.udp_port]), [["b", 3]]);
  assert.deepEqual(plan.marks.deletes, ["a"]);
  assert.deepEqual(plan.marks.saves, [{ name: "b", mark: { seq: "2", session: "s" } }]);
});

Deno.test("values that do not fit their columns are refused before any write", async () => {
  const request: RequestRecord = {
    id: "S1",
    buyer: "b",
    buyerRq: "1",
    item: "Lamp",
    description: "",
    maxPrice: 10,
    createdAt: 0,
    state: "searching",
    updatedAt: 0,
    deadline: Number.MAX_SAFE_INTEGER,
    contacted: 0,
  };
  const save = (change: Partial<RequestRecord>): Mutation[] => [
    { kind: "save", key: ["request", "S1"], value: { ...request, ...change } },
  ];
  await planBatch(save({}), []);
  await assert.rejects(planBatch(save({ maxPrice: 10.005 }), []), /Cannot store maxPrice 10.005/);
  await assert.rejects(planBatch(save({ maxPrice: 1e10 }), []), /expected whole cents up to/);
  await assert.rejects(planBatch(save({ updatedAt: 1.5 }), []), /Cannot store updatedAt 1.5/);
  await assert.rejects(planBatch(save({ contacted: NaN }), []), /Cannot store contacted NaN/);
  await assert.rejects(
    planBatch([{ kind: "save", key: ["request", "S2"], value: request }], []),
    /Cannot store request record "S1" under the key of "S2"/,
  );
});

Deno.test("a dollar-quoted literal cannot be ended by the text inside", () => {
  assert.equal(dollarQuote("plain"), "$q$plain$q$");
  assert.equal(dollarQuote("a $q$ b"), "$q0$a $q$ b$q0$");
  // A text ending in "$q" would close "$q$" early: "…$q" + "$q$" holds "$q$" before the end.
  assert.equal(dollarQuote("cost$q"), "$q0$cost$q$q0$");
});
