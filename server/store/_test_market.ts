/**
 * Realistic records for the store tests: a market driven through
 * registrations, listings, searches, a sale settled and one that failed,
 * each event's writes one batch, as the shell would commit them.
 *
 * @module
 */
import type { SessionMark } from "../guard.ts";
import { Harness, lookingFor, offer, party, T0 } from "../_market_harness.ts";
import type { Mutation, RegisteredPeer } from "../records.ts";

const BOOK = ["from", "ack", "no-offer", "book"];

/** A market's batches of writes, and replay marks to store beside them. */
export interface MarketBatches {
  readonly batches: Mutation[][];
  readonly marks: [string, SessionMark][];
}

/** An authenticated peer as registration stores it (keys made up, shapes real). */
export const AUTHENTICATED: RegisteredPeer = {
  name: "keyed",
  ip: "192.0.2.7",
  udpPort: 7001,
  tcpPort: 7002,
  source: { hostname: "::ffff:192.0.2.7", port: 7001 },
  registeredAt: T0 - 5_000,
  extensions: ["from", "ack", "book"],
  auth: {
    ts: T0 - 5_001,
    key: "BFm0hO3J0yVZJtq4mCz3n5fXf1b6q0XgWqkqg3pYw7oZlJ7b0l3bXk1cJw8f9mJ5zq2Xy3Wq0lQ9r8tYp2Lk4aE",
    ca: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n",
    keys: { send: "c2VuZC1rZXk", receive: "cmVjZWl2ZS1rZXk" },
  },
};

/**
 * Drives a market: listings at 25.35 and 20.10, a sale at 20.10 from the
 * book (its listing sold out), a classic sale at 999999999.99 that
 * settles, one at 0.30 whose payment fails, a declined hold (fields left
 * `undefined`), and searches still open.
 */
export function marketBatches(): MarketBatches {
  const h = new Harness();
  const batches: Mutation[][] = [];
  let mark = 0;
  const cut = () => {
    const batch = h.writes.slice(mark);
    mark = h.writes.length;
    if (batch.length > 0) batches.push(batch);
  };
  let seq = 0;
  const list = (seller: string, item: string, price: number, quantity: number, at: number) =>
    h.from(seller, {
      type: "LIST",
      rq: `${seller}-l${++seq}`,
      name: seller,
      seq: ++seq,
      item,
      price,
      quantity,
      description: `${item} from ${seller}`,
    }, at);
  const settle = (id: string, ok: boolean, at: number) => {
    const tx = h.market.request(id)?.tx;
    if (!tx) {
      throw new Error(
        `Search ${id} has no transaction: ${JSON.stringify(h.market.request(id))} ${
          JSON.stringify(h.outbox.slice(-4))
        }`,
      );
    }
    h.feed(h.market.handle({
      kind: "transacted",
      request: id,
      tx,
      outcome: ok
        ? { ok: true, buyer: party(h.market.request(id)!.buyer), seller: party("s1") }
        : { ok: false, reason: "the card was declined" },
      at,
    }));
  };
  const idOf = (buyer: string, rq: string) =>
    h.market.requests().find((r) => r.buyer === buyer && r.buyerRq === rq)!.id;

  for (const name of ["buyer", "s1", "s2", "s3"]) {
    h.register(name, BOOK);
    cut();
  }
  let at = T0 + 10;
  list("s1", "Lamp", 25.35, 2, at++);
  cut();
  list("s2", "lamp", 20.1, 1, at++);
  cut();
  list("s3", "Desk", 99.99, 1, at++);
  cut();
  list("s3", "Desk", 99.99, 0, at++); // withdrawn
  cut();

  // From the book: RESERVE to s2 (20.10), its OFFER, BUY, paid; the listing sells out.
  h.from("buyer", lookingFor("b1", "buyer", "Lamp", 999999999.99), at++);
  cut();
  const lamp = idOf("buyer", "b1");
  h.from("s2", offer(lamp, "s2", "Lamp", 20.1), at++);
  cut();
  h.from("buyer", { type: "BUY", rq: "b1", item: "Lamp", price: 20.1 }, at++);
  cut();
  settle(lamp, true, at++);
  cut();

  // A declined hold: RESERVE to s1, NO_OFFER; nothing else listed: NOT_AVAILABLE.
  h.from("buyer", lookingFor("b2", "buyer", "Lamp", 21), at++);
  cut();
  h.from("buyer", lookingFor("b3", "buyer", "lamp", 30), at++);
  cut();
  const held = idOf("buyer", "b3");
  h.from("s1", { type: "NO_OFFER", rq: held, name: "s1", item: "Lamp" }, at++);
  cut();

  for (const name of ["classic", "cs", "cs2"]) {
    h.register(name, false, at++);
    cut();
  }
  // Classic peers: SEARCH, OFFER, the window closes, FOUND, BUY, the outcome.
  h.from("classic", lookingFor("c1", "classic", "Laptop", 999999999.99), at++);
  cut();
  const laptop = idOf("classic", "c1");
  h.from("cs", offer(laptop, "cs", "Laptop", 999999999.99), at++);
  cut();
  h.from("cs2", offer(laptop, "cs2", "Laptop", 999999999.99), at++);
  cut();
  h.tick(at += 1_000);
  cut();
  h.from("classic", { type: "BUY", rq: "c1", item: "Laptop", price: 999999999.99 }, at++);
  cut();
  settle(laptop, true, at++);
  cut();

  h.from("classic", lookingFor("c2", "classic", "Pen", 0.3), at++);
  cut();
  const pen = idOf("classic", "c2");
  h.from("cs", offer(pen, "cs", "Pen", 0.3), at++);
  cut();
  h.tick(at += 1_000);
  cut();
  h.from("classic", { type: "BUY", rq: "c2", item: "Pen", price: 0.3 }, at++);
  cut();
  settle(pen, false, at++);
  cut();

  // Still open: a search waiting for offers.
  h.from("classic", lookingFor("c3", "classic", "Chair", 45.5), at++);
  cut();
  batches.push([{ kind: "save", key: ["peer", AUTHENTICATED.name], value: AUTHENTICATED }]);
  return {
    batches,
    marks: [
      ["keyed", { seq: "42", session: "c2Vzc2lvbi1pZA" }],
      ["buyer", { seq: "7", session: "YnV5ZXItc2Vzcw" }],
    ],
  };
}
