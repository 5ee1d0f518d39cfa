import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { Acknowledged, agentClaims, serverClaims } from "./acknowledged.ts";
import { RecordStore } from "./records.ts";

const REGISTERED: Message = { type: "REGISTERED", rq: "ann1-1" };
const peer = (name: string) => ({
  name,
  ip: "10.0.1.1",
  udpPort: 6000,
  tcpPort: 7000,
  source: { hostname: "10.0.1.1", port: 6000 },
  registeredAt: 0,
});

/** The checker over one server store (and agents' stores, by name). */
function checker(stores: Record<string, RecordStore>) {
  const acknowledged = new Acknowledged();
  const of = (who: string) => stores[who]!;
  return {
    add: (claims: ReturnType<typeof serverClaims>) => acknowledged.add(claims, of),
    check: () => acknowledged.check(of),
  };
}

Deno.test("a REGISTERED whose peer record was never stored is acknowledged but not stored", () => {
  const server = new RecordStore();
  const { add } = checker({ server });
  // The reply of batch 3, sent before (or without) the commit that holds ann.
  const broken = add(serverClaims(server, "ann", REGISTERED, 3));
  assert.match(broken!, /acknowledged but not stored: REGISTERED ann1-1 to ann \(batch 3\)/);
  assert.match(broken!, /has no peer\/ann \(never stored\)/);
});

Deno.test("a REGISTERED holds once its batch is stored, and a later DE-REGISTER discharges it", () => {
  const server = new RecordStore();
  const { add, check } = checker({ server });
  server.apply([{ kind: "write", key: ["peer", "ann"], value: peer("ann") }], 3);
  assert.equal(add(serverClaims(server, "ann", REGISTERED, 3)), undefined);
  // A resend answered from the reply cache in batch 5 claims the same.
  assert.equal(add(serverClaims(server, "ann", REGISTERED, 5)), undefined);
  server.apply([{ kind: "write", key: ["peer", "ann"] }], 7);
  assert.equal(check(), undefined);
  // The DE-REGISTERED of batch 7 holds too; a later REGISTER discharges it in turn.
  assert.equal(
    add(serverClaims(server, "ann", { type: "DE-REGISTERED", rq: "ann1-2" }, 7)),
    undefined,
  );
  server.apply([{ kind: "write", key: ["peer", "ann"], value: peer("ann") }], 9);
  assert.equal(check(), undefined);
});

Deno.test("a record set back by an earlier batch breaks the claim of a later one", () => {
  const server = new RecordStore();
  const { add, check } = checker({ server });
  server.apply([{ kind: "write", key: ["peer", "ann"] }], 2);
  server.apply([{ kind: "write", key: ["peer", "ann"], value: peer("ann") }], 4);
  assert.equal(add(serverClaims(server, "ann", REGISTERED, 4)), undefined);
  // Batch 2 applied again over batch 4 (a store that reorders commits).
  server.apply([{ kind: "write", key: ["peer", "ann"] }], 2);
  assert.match(check()!, /REGISTERED ann1-1 to ann \(batch 4\).*peer\/ann deleted \(by batch 2\)/);
});

Deno.test("a FOUND needs its search stored as found at that price", () => {
  const server = new RecordStore();
  const { add } = checker({ server });
  const search = {
    id: "s1-1",
    buyer: "ann",
    buyerRq: "ann1-2",
    item: "lamp",
    state: "searching",
    price: 10,
  };
  server.apply([{ kind: "write", key: ["request", "s1-1"], value: search }], 4);
  const found: Message = { type: "FOUND", rq: "ann1-2", item: "lamp", price: 10 };
  // Batch 6 decided the search, but its commit is not in the store.
  assert.match(
    add(serverClaims(server, "ann", found, 6))!,
    /FOUND ann1-2 to ann at 10 \(batch 6\) claims the search found at 10/,
  );
  server.apply(
    [{ kind: "write", key: ["request", "s1-1"], value: { ...search, state: "found" } }],
    6,
  );
  assert.equal(add(serverClaims(server, "ann", found, 6)), undefined);
});

Deno.test("a sale acknowledged on the TCP leg stays in the ledger, whatever comes later", () => {
  const server = new RecordStore();
  const { add, check } = checker({ server });
  const shipping: Message = { type: "Shipping_Info", rq: "s1-2", name: "ann", address: "1 Road" };
  assert.match(add(serverClaims(server, "bob", shipping, 8))!, /has no ledger\/s1-2/);
  server.apply([{ kind: "write", key: ["ledger", "s1-2"], value: { outcome: "completed" } }], 8);
  assert.equal(add(serverClaims(server, "bob", shipping, 8)), undefined);
  // A later batch may not undo a sale (a ledger entry is final).
  server.apply([{ kind: "write", key: ["ledger", "s1-2"], value: { outcome: "cancelled" } }], 12);
  assert.match(check()!, /Shipping_Info s1-2 to bob .* claims the sale completed in the ledger/);
});

Deno.test("a peer's TX_ACK and its 'Sold' line need the history entry in its own store", () => {
  const server = new RecordStore();
  const bob = new RecordStore();
  const { add } = checker({ server, bob });
  const ack = agentClaims(
    "bob",
    { message: { type: "TX_ACK", rq: "s1-2", of: "Shipping_Info" } },
    5,
  );
  assert.match(
    add(ack)!,
    /bob's TX_ACK s1-2 to the server \(batch 5\).*bob's store has no history\/s1-2/,
  );
  bob.apply([{ kind: "write", key: ["history", "s1-2"], value: { tx: "s1-2" } }], 5);
  assert.equal(add(ack), undefined);
  const sold = agentClaims("bob", {
    output: { event: "Shipping_Info", text: "Sold lamp", fields: { rq: "s1-2" } },
  }, 5);
  assert.equal(add(sold), undefined);
  assert.deepEqual(agentClaims("bob", { output: { event: "prompt", text: "Buy?" } }, 5), []);
});
