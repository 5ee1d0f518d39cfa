import assert from "node:assert/strict";
import type { Message } from "../protocol/mod.ts";
import { MessageReader, writeMessage } from "../transport/tcp.ts";
import { deliverShipping, type Party, type TransactionPlan } from "./transaction.ts";

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
