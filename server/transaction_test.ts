import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { MessageReader, writeMessage } from "../transport/tcp.ts";
import { deliverShipping, type Party, Transaction, type TransactionPlan } from "./transaction.ts";

/**
 * A peer's TCP port on loopback (plain TCP: the TLS side is covered by the
 * end-to-end tests): reads one message, answers as `answer` says, closes.
 */
async function withPeer(
  answer: (received: Message) => Message | undefined,
  run: (port: number) => Promise<void>,
): Promise<Message | undefined> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let received: Message | undefined;
  const serving = (async () => {
    using conn = await listener.accept();
    const result = await new MessageReader(conn).read({ signal: AbortSignal.timeout(10_000) });
    if (!result?.ok) return;
    received = result.message;
    const reply = answer(received);
    if (reply) await writeMessage(conn, reply, true);
  })();
  await run((listener.addr as Deno.NetAddr).port);
  await serving;
  return received;
}

function plan(port: number, seller: Partial<Party>): TransactionPlan {
  const party = (name: string): Party => ({
    name,
    address: { hostname: "127.0.0.1", port },
    ours: true,
    ...seller,
  });
  return { id: "T7", item: "Laptop", price: 500, buyer: party("alice"), seller: party("bob") };
}

const shipTo = { ok: true, buyerName: "alice", address: "42 Main St" } as const;
const options = { timeoutMs: 10_000 };

Deno.test("Shipping_Info to a peer with the ack extension is delivered only once acknowledged", async (t) => {
  await t.step("acknowledged: delivered", async () => {
    let delivered = false;
    const received = await withPeer(
      (message) => ({ type: "TX_ACK", rq: message.rq, of: "Shipping_Info" }),
      async (port) => {
        delivered = await deliverShipping(plan(port, { acks: true }), shipTo, options);
      },
    );
    assert.deepEqual(received, {
      type: "Shipping_Info",
      rq: "T7",
      name: "alice",
      address: "42 Main St",
    });
    assert.equal(delivered, true);
  });

  await t.step("closed without an ACK (killed before storing it): not delivered", async () => {
    let delivered = true;
    await withPeer(() => undefined, async (port) => {
      delivered = await deliverShipping(plan(port, { acks: true }), shipTo, options);
    });
    assert.equal(delivered, false);
  });

  await t.step("an ACK of another transaction: not delivered", async () => {
    let delivered = true;
    await withPeer(() => ({ type: "TX_ACK", rq: "T8", of: "Shipping_Info" }), async (port) => {
      delivered = await deliverShipping(plan(port, { acks: true }), shipTo, options);
    });
    assert.equal(delivered, false);
  });

  await t.step("a peer without the extension: the write is the delivery", async () => {
    let delivered = false;
    const received = await withPeer(() => undefined, async (port) => {
      delivered = await deliverShipping(plan(port, { ours: false }), shipTo, options);
    });
    assert.equal(received?.type, "Shipping_Info");
    assert.equal(delivered, true);
  });

  await t.step("nobody listening: not delivered", async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    listener.close();
    assert.equal(await deliverShipping(plan(port, { acks: true }), shipTo, options), false);
  });
});

/**
 * Two peers' TCP ports on loopback: each reads INFORM_Req and answers as
 * its function says (after its delay), then waits for the conclusion.
 */
async function withParties(
  answers: Record<"buyer" | "seller", (inform: Message) => Promise<Message | "hang up" | "wait">>,
  run: (ports: Record<"buyer" | "seller", number>) => Promise<void>,
): Promise<Record<"buyer" | "seller", Message[]>> {
  const listeners = {
    buyer: Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    seller: Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  };
  const received: Record<"buyer" | "seller", Message[]> = { buyer: [], seller: [] };
  const serve = async (role: "buyer" | "seller") => {
    using conn = await listeners[role].accept();
    const reader = new MessageReader(conn);
    const signal = AbortSignal.timeout(20_000);
    const inform = await reader.read({ signal });
    if (!inform?.ok) return;
    received[role].push(inform.message);
    const answer = await answers[role](inform.message);
    if (answer === "hang up") return;
    if (answer !== "wait") await writeMessage(conn, answer, true);
    const next = await reader.read({ signal }).catch(() => undefined);
    if (next?.ok) received[role].push(next.message);
  };
  try {
    const serving = Promise.all([serve("buyer"), serve("seller")]);
    await run({
      buyer: (listeners.buyer.addr as Deno.NetAddr).port,
      seller: (listeners.seller.addr as Deno.NetAddr).port,
    });
    await serving;
  } finally {
    listeners.buyer.close();
    listeners.seller.close();
  }
  return received;
}

function twoParties(ports: Record<"buyer" | "seller", number>): TransactionPlan {
  const party = (name: string, port: number): Party => ({
    name,
    address: { hostname: "127.0.0.1", port },
    ours: true,
  });
  return {
    id: "T9",
    item: "Laptop",
    price: 500,
    buyer: party("alice", ports.buyer),
    seller: party("bob", ports.seller),
  };
}

const details = (name: string, card: string) => (inform: Message): Promise<Message> =>
  Promise.resolve({
    type: "INFORM_Res",
    rq: inform.rq,
    name,
    card,
    expiry: "11/39",
    address: "42 Main St",
  });

Deno.test("one party's failure cancels both at once, without waiting out the other", async (t) => {
  const processor = { charge: () => Promise.resolve({ approved: true as const }) };
  for (
    const [what, buyerAnswer, reason] of [
      ["an invalid card", details("alice", "4111111111111112"), /card number .* is invalid/],
      ["a hang-up", () => Promise.resolve("hang up" as const), /closed the connection/],
    ] as const
  ) {
    await t.step(`the buyer's ${what}: CANCEL to both well before the timeout`, async () => {
      let outcome: Awaited<ReturnType<Transaction["run"]>> | undefined;
      let took = 0;
      const received = await withParties(
        // The seller is still typing its details when the buyer fails.
        { buyer: buyerAnswer, seller: () => Promise.resolve("wait" as const) },
        async (ports) => {
          const started = performance.now();
          await using transaction = new Transaction(twoParties(ports), {
            processor,
            timeoutMs: 15_000,
          });
          outcome = await transaction.run();
          took = performance.now() - started;
          assert.equal(outcome.ok, false);
          await transaction.conclude({ ok: false, reason: (outcome as { reason: string }).reason });
        },
      );
      assert.ok(took < 5_000, `the run took ${took} ms`);
      assert.match((outcome as { reason: string }).reason, reason);
      const cancel = received.seller[1];
      assert.equal(cancel?.type, "TX_CANCEL");
      assert.match((cancel as { reason: string }).reason, reason);
      if (what === "an invalid card") assert.equal(received.buyer[1]?.type, "TX_CANCEL");
    });
  }
});
