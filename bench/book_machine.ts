/**
 * The offer book's cost inside the market machine, without sockets or KV:
 * 100,000 of our peers listing 10,000 items with 10 sellers each, then
 * LOOKING_FOR → FOUND (RESERVE to the cheapest lister, its OFFER) as fast
 * as the machine decides them, with 0 and then 100 classic peers.
 *
 * `deno run bench/book_machine.ts [PEERS]`: a figure for the decision
 * path only; the socket-level scenario is still to be added to bench.ts.
 *
 * @module
 */
import { Market } from "../server/market.ts";
import type { Message } from "../protocol/mod.ts";

const PEERS = Number(Deno.args[0] ?? 100_000);
const SELLERS_PER_ITEM = 10;
const ITEMS = PEERS / SELLERS_PER_ITEM;
const BOOK = ["from", "ack", "no-offer", "book"];

function run(classic: number): void {
  const market = new Market(undefined, {
    allowPlaintext: true,
    limits: { namesPerHost: 0, classicNamesPerHost: 0, peers: 2_000_000, unacked: 10_000_000 },
    liveness: { offlineAfter: 0, forgetAfter: 0 },
  });
  let at = Date.now();
  const address = (i: number) => ({
    hostname: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 7000,
  });
  const feed = (i: number, message: Message) =>
    market.handle({ kind: "message", from: address(i), message, bytes: 100, at });
  const total = PEERS + classic + 1;
  for (let i = 0; i < total; i++) {
    const name = `p${i}`;
    feed(i, {
      type: "REGISTER",
      rq: `r${i}`,
      name,
      ip: address(i).hostname,
      udpPort: 7000,
      tcpPort: 7001,
      ...(i < PEERS || i === total - 1 ? { extensions: BOOK } : {}),
    });
    if (i < PEERS) {
      feed(i, {
        type: "LIST",
        rq: `l${i}`,
        name,
        seq: 1,
        item: `item${i % ITEMS}`,
        price: 10 + (i % 97),
        quantity: 1,
        description: "listed",
      });
    }
  }
  const buyer = total - 1;
  const searches = 20_000;
  const latencies: number[] = [];
  let searchDatagrams = 0;
  const started = performance.now();
  for (let n = 0; n < searches; n++) {
    at++;
    const t0 = performance.now();
    const effects = feed(buyer, {
      type: "LOOKING_FOR",
      rq: `b${n}`,
      name: `p${buyer}`,
      item: `item${n % ITEMS}`,
      description: "",
      maxPrice: 1_000,
    });
    let reserve: Message | undefined;
    for (const effect of effects) {
      if (effect.kind !== "send") continue;
      if (effect.message.type === "SEARCH") searchDatagrams++;
      if (effect.message.type === "RESERVE") reserve = effect.message;
    }
    if (classic > 0) {
      // The classic peers say nothing: the window decides.
      at += 10_001;
      for (const effect of market.handle({ kind: "tick", at })) {
        if (effect.kind === "send" && effect.message.type === "RESERVE") reserve = effect.message;
      }
    }
    if (!reserve || reserve.type !== "RESERVE") throw new Error(`search ${n} reserved nothing`);
    const seller = market.request(reserve.rq)!.holding!;
    const index = Number(seller.slice(1));
    const found = feed(index, {
      type: "OFFER",
      rq: reserve.rq,
      name: seller,
      item: reserve.item,
      price: reserve.price,
    })
      .some((effect) => effect.kind === "send" && effect.message.type === "FOUND");
    if (!found) throw new Error(`search ${n}: no FOUND`);
    latencies.push(performance.now() - t0);
    // Release the lister for the next search of the same item.
    feed(buyer, { type: "CANCEL", rq: `b${n}`, item: reserve.item, price: reserve.price });
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.floor(latencies.length * p)]!.toFixed(3);
  console.log(
    `${PEERS} listers, ${ITEMS} items, ${classic} classic: ${
      Math.round(searches / seconds)
    } searches/s; ` +
      `LOOKING_FOR → FOUND in the machine p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms; ` +
      `SEARCH datagrams per search ${(searchDatagrams / searches).toFixed(1)}`,
  );
}

run(0);
run(100);
