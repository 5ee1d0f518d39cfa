/**
 * The bench's targets and its table: each scenario's results as rows of
 * figure, shop, floor, ratio to the floor, target and whether it is met,
 * and the rows as a Markdown table.
 *
 * @module
 */
import type { BookResult } from "./_book.ts";
import type { FanoutResult } from "./_fanout.ts";
import type { HarnessKind } from "./_harness.ts";
import type { PurchaseResult } from "./_purchase.ts";
import type { RegistrationResult } from "./_registrations.ts";
import type { RestartResult } from "./_restart.ts";
import { formatCount } from "./_stats.ts";

/** The targets of issues 7 and 15; ratios are to the floor measured in the same run. */
export const TARGETS = {
  /** Durable registrations at 32 in flight: at least this share of the floor's rate. */
  registrationsFloorRatio: 0.5,
  /** "No slower with 100,000 peers than with none": within 10% for noise. */
  slowdownRatio: 0.9,
  /** LOOKING_FOR → last SEARCH: at most this multiple of the floor's time for the same sends. */
  fanoutFloorRatio: 1.5,
  /** RSS growth over the searches to the most sellers, all still open. */
  fanoutRssGrowthBytes: 64 * 2 ** 20,
  /** A REGISTER sent during a fan-out: answered within this. */
  registerDuringFanoutMs: 2_000,
  purchaseMedianMs: 30,
  restartMs: 2_000,
  bytesPerPeer: 2_048,
  /** Issue 14: searches decided from the offer book. */
  bookSearchesPerSecond: 2_000,
  bookMedianMs: 5,
};

export interface Results {
  registrations?: RegistrationResult;
  fanout?: FanoutResult;
  purchase?: PurchaseResult;
  restart?: RestartResult;
  book?: BookResult;
}

export interface Row {
  figure: string;
  shop: string;
  floor: string;
  /** shop ÷ floor, or the figure's own ratio. */
  ratio: string;
  target: string;
  met: boolean | undefined;
  harness: string;
}

const times = (ratio: number) => `${ratio.toFixed(2)}×`;
const ms = (value: number) => `${value.toLocaleString("en-US", { maximumFractionDigits: 2 })} ms`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
/** KiB below 10 MiB, else MiB: a store's size at the smoke run's sizes and at full ones. */
const size = (bytes: number) =>
  bytes < 10 * 2 ** 20 ? `${formatCount(bytes / 1024)} KiB` : mib(bytes);

export function table(results: Results, harness: HarnessKind): Row[] {
  const rows: Row[] = [];
  const reg = results.registrations;
  if (reg) {
    for (const point of reg.points) {
      const ratio = point.perSecond / reg.floorPerSecond;
      rows.push({
        figure: `durable registrations, ${reg.inFlight} in flight, ${
          formatCount(point.registered)
        } registered`,
        shop: `${formatCount(point.perSecond)}/s (windows ${formatCount(point.slowestPerSecond)}–${
          formatCount(point.fastestPerSecond)
        }; p99 ${point.latencyMs.p99} ms; ${point.retransmits} resent)`,
        floor: `${formatCount(reg.floorPerSecond)}/s (p99 ${reg.floorLatencyMs.p99} ms)`,
        ratio: times(ratio),
        target: `≥ ${TARGETS.registrationsFloorRatio}× floor`,
        met: ratio >= TARGETS.registrationsFloorRatio,
        harness,
      });
    }
    rows.push({
      figure: `durable registrations, ${reg.wideInFlight} in flight, ${
        formatCount(reg.wide.registered)
      } registered`,
      shop: `${formatCount(reg.wide.perSecond)}/s (p99 ${reg.wide.latencyMs.p99} ms)`,
      floor: `${formatCount(reg.floorWidePerSecond)}/s`,
      ratio: times(reg.wide.perSecond / reg.floorWidePerSecond),
      target: "",
      met: undefined,
      harness,
    });
    const first = reg.points[0];
    const last = reg.points.at(-1);
    if (first && last && last !== first) {
      const ratio = last.perSecond / first.perSecond;
      rows.push({
        figure: `registrations with ${formatCount(last.registered)} vs ${
          formatCount(first.registered)
        } registered`,
        shop: `${formatCount(last.perSecond)}/s vs ${formatCount(first.perSecond)}/s`,
        floor: "",
        ratio: `${times(ratio)} (to the rate at ${formatCount(first.registered)})`,
        target: `flat: ≥ ${TARGETS.slowdownRatio}×`,
        met: ratio >= TARGETS.slowdownRatio,
        harness,
      });
    }
    rows.push({
      figure: "memory per registered peer",
      shop: `${formatCount(reg.bytesPerPeer)} B (${formatCount(reg.peers)} peers)`,
      floor: "",
      ratio: "",
      target: `≤ ${formatCount(TARGETS.bytesPerPeer)} B`,
      met: reg.bytesPerPeer <= TARGETS.bytesPerPeer,
      harness,
    });
  }
  const fan = results.fanout;
  if (fan) {
    for (const point of fan.points) {
      const ratio = point.medianMs / point.floorMedianMs;
      rows.push({
        figure: `fan-out to ${formatCount(point.sellers)} sellers: LOOKING_FOR → last SEARCH`,
        shop: `median ${ms(point.medianMs)} (max ${ms(point.maxMs)}, n=${point.runsMs.length}, ${
          formatCount(point.lost)
        } lost)`,
        floor: `median ${ms(point.floorMedianMs)} (${formatCount(point.floorLost)} lost)`,
        ratio: times(ratio),
        target: `≤ ${TARGETS.fanoutFloorRatio}× floor, none lost`,
        met: ratio <= TARGETS.fanoutFloorRatio && point.lost === 0,
        harness,
      });
    }
    const big = fan.largest;
    rows.push({
      figure: `RSS growth over ${big.searches} searches to ${formatCount(big.sellers)} (all open)`,
      shop: `${mib(big.rssGrowthBytes)} (${mib(big.rssBeforeBytes)} → ${mib(big.rssAfterBytes)})`,
      floor: "",
      ratio: "",
      target: `≤ ${mib(TARGETS.fanoutRssGrowthBytes)}`,
      met: big.rssGrowthBytes <= TARGETS.fanoutRssGrowthBytes,
      harness,
    });
    const worst = Math.max(...big.probeMs);
    rows.push({
      figure: `REGISTER sent during a fan-out to ${formatCount(big.sellers)}: answered in`,
      shop: `max ${ms(worst)} of ${big.probeMs.length} (${
        big.probeMs.map((value) => value.toFixed(1)).join(", ")
      }; the fan-out's last SEARCH at ${
        big.probeFanoutLastMs.map((v) => v.toFixed(0)).join(", ")
      })`,
      floor: "",
      ratio: "",
      target: `≤ ${formatCount(TARGETS.registerDuringFanoutMs)} ms`,
      met: worst <= TARGETS.registerDuringFanoutMs,
      harness,
    });
  }
  const buy = results.purchase;
  if (buy) {
    rows.push({
      figure: `purchase (offer window ${buy.offerWindow}): LOOKING_FOR → Shipping_Info`,
      shop: `median ${ms(buy.totalMs.median)}, p90 ${ms(buy.totalMs.p90)}, max ${
        ms(buy.totalMs.max)
      } (n=${buy.totalMs.count})`,
      floor: "",
      ratio: "",
      target: `median ≤ ${TARGETS.purchaseMedianMs} ms`,
      met: buy.totalMs.median <= TARGETS.purchaseMedianMs,
      harness: "deno",
    });
    rows.push({
      figure: "purchase, its two halves",
      shop: `LOOKING_FOR → FOUND median ${ms(buy.searchMs.median)}; ` +
        `BUY → Shipping_Info median ${ms(buy.transactionMs.median)} (plain TCP, no TLS)`,
      floor: "",
      ratio: "",
      target: "",
      met: undefined,
      harness: "deno",
    });
  }
  const restart = results.restart;
  if (restart) {
    rows.push({
      figure: "restart: spawn → answering a REGISTER",
      shop: `${formatCount(restart.restartMs)} ms (${formatCount(restart.registered)} peers, ${
        formatCount(restart.openSearches)
      } open searches)`,
      floor: "",
      ratio: "",
      target: `≤ ${formatCount(TARGETS.restartMs)} ms`,
      met: restart.restartMs <= TARGETS.restartMs,
      harness: "deno",
    });
    rows.push({
      figure: "restart, its parts",
      shop: `spawn → listening ${formatCount(restart.listeningMs)} ms; SIGTERM → exit ${
        formatCount(restart.stopMs)
      } ms; setup ${formatCount(restart.setupMs / 1000)} s`,
      floor: "",
      ratio: "",
      target: "",
      met: undefined,
      harness: "deno",
    });
    rows.push({
      figure: "memory per peer after the restart",
      shop: `${formatCount(restart.restartedBytesPerPeer)} B (RSS ${
        formatCount(restart.restartedRssBytes / 2 ** 20)
      } MiB: the state loaded from ${restart.store === "postgres" ? "PostgreSQL" : "KV"})`,
      floor: "",
      ratio: "",
      target: `≤ ${formatCount(TARGETS.bytesPerPeer)} B`,
      met: restart.restartedBytesPerPeer <= TARGETS.bytesPerPeer,
      harness: "deno",
    });
    rows.push({
      figure: "memory per peer, peers and open searches",
      shop: `${formatCount(restart.bytesPerPeer)} B (RSS ${
        formatCount(restart.rssBytes / 2 ** 20)
      } MiB, fresh ${formatCount(restart.baselineRssBytes / 2 ** 20)} MiB)`,
      floor: "",
      ratio: "",
      target: `≤ ${formatCount(TARGETS.bytesPerPeer)} B`,
      met: restart.bytesPerPeer <= TARGETS.bytesPerPeer,
      harness: "deno",
    });
  }
  const book = results.book;
  if (book) {
    const market = `${formatCount(book.peers)} listers, ${formatCount(book.items)} items`;
    for (const phase of book.phases) {
      rows.push({
        figure: `book: searches/s, ${market}, ${phase.classic} classic`,
        shop: `${formatCount(phase.perSecond)}/s (${formatCount(phase.searches)} in ${
          formatCount(phase.elapsedMs / 1000)
        } s, ${book.inFlight} in flight, ${phase.notFound} not found, ${phase.unanswered} unanswered, ${phase.resent} resent)`,
        floor: "",
        ratio: "",
        target: phase.classic === 0 ? `≥ ${formatCount(TARGETS.bookSearchesPerSecond)}/s` : "",
        met: phase.classic === 0 ? phase.perSecond >= TARGETS.bookSearchesPerSecond : undefined,
        harness: "deno",
      });
      rows.push({
        figure: `book: LOOKING_FOR → FOUND, ${phase.classic} classic`,
        shop: `p50 ${ms(phase.latencyMs.median)}, p99 ${ms(phase.latencyMs.p99)}, max ${
          ms(phase.latencyMs.max)
        }`,
        floor: "",
        ratio: "",
        target: phase.classic === 0 ? `p50 ≤ ${TARGETS.bookMedianMs} ms` : "(offer window)",
        met: phase.classic === 0 ? phase.latencyMs.median <= TARGETS.bookMedianMs : undefined,
        harness: "deno",
      });
      rows.push({
        figure: `book: SEARCH datagrams per search, ${phase.classic} classic`,
        shop: `${phase.searchDatagramsPerSearch}`,
        floor: "",
        ratio: "",
        target: `= ${phase.classic}`,
        met: phase.searchDatagramsPerSearch === phase.classic,
        harness: "deno",
      });
    }
    rows.push({
      figure: "book: restart, spawn → answering a REGISTER",
      shop: `${formatCount(book.restartMs)} ms (listening ${formatCount(book.listeningMs)} ms; ` +
        `then of ${
          book.afterRestart.searches + book.afterRestart.notFound +
          book.afterRestart.unanswered
        } searches ${book.afterRestart.searches} found from ` +
        `the restored book, ${book.afterRestart.unanswered} unanswered)`,
      floor: "",
      ratio: "",
      target: `≤ ${formatCount(TARGETS.restartMs)} ms`,
      met: book.restartMs <= TARGETS.restartMs,
      harness: "deno",
    });
  }
  return rows;
}

export function formatTable(rows: readonly Row[]): string {
  return markdown([
    ["figure", "shop", "floor", "ratio", "target", "met?", "harness"],
    ...rows.map((row) => [
      row.figure,
      row.shop,
      row.floor,
      row.ratio,
      row.target,
      row.met === undefined ? "-" : row.met ? "yes" : "NO",
      row.harness,
    ]),
  ]);
}

/** The scenarios run on each store (issue 19). */
export interface StoreResults {
  registrations?: RegistrationResult | undefined;
  purchase?: PurchaseResult | undefined;
  restart?: RestartResult | undefined;
}

/** A row of the "Deno KV vs PostgreSQL" table. */
export interface StoreRow {
  figure: string;
  kv: string;
  postgres: string;
  /** PostgreSQL's figure ÷ Deno KV's. */
  ratio: string;
  /** The floor's figure, where there is one (each store's ratio to it is in its cell). */
  floor: string;
}

/**
 * The "Deno KV vs PostgreSQL" table: the figures of the same scenarios
 * and sizes on each store, from one run, with the ratio of the two.
 */
export function storeTable(kv: StoreResults, postgres: StoreResults): StoreRow[] {
  const rows: StoreRow[] = [];
  const add = (
    figure: string,
    pick: (side: StoreResults) => { value: number; text: string } | undefined,
    floor = "",
  ) => {
    const a = pick(kv);
    const b = pick(postgres);
    if (!a && !b) return;
    rows.push({
      figure,
      kv: a?.text ?? "(not run)",
      postgres: b?.text ?? "(not run)",
      ratio: a && b && a.value > 0 ? times(b.value / a.value) : "",
      floor,
    });
  };
  const reg = kv.registrations ?? postgres.registrations;
  if (reg) {
    const rate = (value: number, floor: number, p99: number) => ({
      value,
      text: `${formatCount(value)}/s (${times(value / floor)} floor; p99 ${ms(p99)})`,
    });
    reg.points.forEach((point, i) => {
      add(
        `durable registrations, ${reg.inFlight} in flight, ${
          formatCount(point.registered)
        } registered`,
        (side) => {
          const mine = side.registrations?.points[i];
          return mine &&
            rate(mine.perSecond, side.registrations!.floorPerSecond, mine.latencyMs.p99);
        },
        `${formatCount(reg.floorPerSecond)}/s`,
      );
    });
    add(
      `durable registrations, ${reg.wideInFlight} in flight, ${
        formatCount(reg.wide.registered)
      } registered`,
      (side) => {
        const r = side.registrations;
        return r && rate(r.wide.perSecond, r.floorWidePerSecond, r.wide.latencyMs.p99);
      },
      `${formatCount(reg.floorWidePerSecond)}/s`,
    );
    add("memory per registered peer (server RSS growth)", (side) => {
      const r = side.registrations;
      return r && {
        value: r.bytesPerPeer,
        text: `${formatCount(r.bytesPerPeer)} B (${formatCount(r.peers)} peers; RSS ${
          mib(r.baselineRssBytes)
        } → ${mib(r.rssBytes)})`,
      };
    });
    add("stored per registered peer (KV files; pg_database_size)", (side) => {
      const r = side.registrations;
      const peersTable = r?.tableBytes?.peers;
      return r && {
        value: r.storedBytesPerPeer,
        text: `${formatCount(r.storedBytesPerPeer)} B (${size(r.storedBytesAtStart)} → ${
          size(r.storedBytes)
        }${
          peersTable === undefined
            ? ""
            : `; table peers ${formatCount(peersTable / r.peers)} B a peer`
        })`,
      };
    });
  }
  const buy = kv.purchase ?? postgres.purchase;
  if (buy) {
    add(`purchase: LOOKING_FOR → Shipping_Info, median (n=${buy.totalMs.count})`, (side) => {
      const p = side.purchase;
      return p && { value: p.totalMs.median, text: ms(p.totalMs.median) };
    });
    add("purchase: LOOKING_FOR → Shipping_Info, p90", (side) => {
      const p = side.purchase;
      return p && { value: p.totalMs.p90, text: `${ms(p.totalMs.p90)} (max ${ms(p.totalMs.max)})` };
    });
    add("purchase: BUY → Shipping_Info, median", (side) => {
      const p = side.purchase;
      return p && { value: p.transactionMs.median, text: ms(p.transactionMs.median) };
    });
  }
  const restart = kv.restart ?? postgres.restart;
  if (restart) {
    add(
      `restart, ${formatCount(restart.registered)} peers and ${
        formatCount(restart.openSearches)
      } open searches: spawn → answering a REGISTER`,
      (side) => {
        const r = side.restart;
        return r && {
          value: r.restartMs,
          text: `${ms(r.restartMs)} (listening ${ms(r.listeningMs)}; SIGTERM → exit ${
            ms(r.stopMs)
          })`,
        };
      },
    );
    add("restart: memory per peer, peers and open searches", (side) => {
      const r = side.restart;
      return r && {
        value: r.bytesPerPeer,
        text: `${formatCount(r.bytesPerPeer)} B (RSS ${mib(r.rssBytes)}, fresh ${
          mib(r.baselineRssBytes)
        })`,
      };
    });
    add("restart: memory per peer after the restart", (side) => {
      const r = side.restart;
      return r && {
        value: r.restartedBytesPerPeer,
        text: `${formatCount(r.restartedBytesPerPeer)} B (RSS ${mib(r.restartedRssBytes)})`,
      };
    });
    add("restart: stored per peer, peers and open searches", (side) => {
      const r = side.restart;
      return r && {
        value: r.storedBytesPerPeer,
        text: `${formatCount(r.storedBytesPerPeer)} B (${size(r.storedBytesAtStart)} → ${
          size(r.storedBytes)
        })`,
      };
    });
  }
  return rows;
}

/** The "Deno KV vs PostgreSQL" rows as a Markdown table. */
export function formatStoreTable(rows: readonly StoreRow[]): string {
  return markdown([
    ["figure", "Deno KV", "PostgreSQL", "PostgreSQL ÷ Deno KV", "floor"],
    ...rows.map((row) => [row.figure, row.kv, row.postgres, row.ratio, row.floor]),
  ]);
}

/** Rows of cells (the first the header) as a Markdown table, columns padded. */
function markdown(cells: readonly string[][]): string {
  const widths = cells[0]!.map((_, column) =>
    Math.max(...cells.map((row) => [...row[column]!].length))
  );
  const line = (row: readonly string[]) =>
    `| ${row.map((cell, i) => cell + " ".repeat(widths[i]! - [...cell].length)).join(" | ")} |`;
  return [
    line(cells[0]!),
    `|${widths.map((width) => "-".repeat(width + 2)).join("|")}|`,
    ...cells.slice(1).map(line),
  ].join("\n");
}
