/**
 * The server's dashboard (`shop server --web`): read-only. It shows the
 * counts (peers registered and online, as the market's liveness rules
 * decide, open searches by state, ended ones still kept,
 * transactions, sales and fees), the peers, the open searches, the ledger
 * with its totals (and a CSV export), and live charts of datagrams and
 * searches per second and of sales over time.
 *
 * It reads the running {@linkcode ShopServer}: its market's peers and
 * searches, its ledger, its traffic counts. A sampler takes one sample a
 * second and sends it on the event stream; when the market changed, the
 * sample says so and the page fetches the state again. Session keys and
 * certificates of the peers never leave the server: only their name,
 * addresses, kind and extensions are shown.
 *
 * @module
 */
import { formatAddress } from "../../protocol/mod.ts";
import { totals } from "../ledger.ts";
import type { LedgerEntry } from "../records.ts";
import { isOpen, type RequestState } from "../request_states.ts";
import type { ShopServer } from "../server.ts";
import { page, script } from "../../web/assets.ts";
import { EventHub } from "../../web/events.ts";
import { csvFile, json, WebServer } from "../../web/server.ts";
import type { DashboardPeer, DashboardSearch, DashboardState, Sample, SampleEvent } from "./api.ts";
import app from "./dashboard.js" with { type: "text" };
import view from "./dashboard_view.js" with { type: "text" };
import html from "./index.html" with { type: "text" };

/** Options for {@linkcode Dashboard.start}. */
export interface DashboardOptions {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** The token; a random one by default. */
  readonly token?: string;
  /** How often a sample is taken (1 s by default). */
  readonly sampleMs?: number;
}

export type * from "./api.ts";

/** How many samples are kept (five minutes at one a second). */
export const SAMPLES_KEPT = 300;

/** A running dashboard. */
export class Dashboard implements AsyncDisposable {
  readonly #server: ShopServer;
  readonly #web: WebServer;
  readonly #hub: EventHub;
  readonly #samples: Sample[] = [];
  readonly #timer: ReturnType<typeof setInterval>;
  #lastDatagrams: number;
  #lastAt: number;
  #version = "";

  private constructor(server: ShopServer, web: WebServer, hub: EventHub, sampleMs: number) {
    this.#server = server;
    this.#web = web;
    this.#hub = hub;
    this.#lastDatagrams = server.traffic.datagrams;
    this.#lastAt = Date.now();
    this.#timer = setInterval(() => this.#sample(), sampleMs);
  }

  /** Serves the dashboard of a running server. */
  static start(server: ShopServer, options: DashboardOptions): Dashboard {
    const hub = new EventHub();
    const made: { self?: Dashboard } = {};
    const web = WebServer.start({
      hostname: options.hostname,
      port: options.port,
      assets: {
        "/": page(html),
        "/dashboard.js": script(app),
        "/dashboard_view.js": script(view),
      },
      hubs: [hub],
      category: "server-web",
      ...(options.token ? { token: options.token } : {}),
      routes: {
        "GET /api/state": async () => json(await made.self!.state()),
        "GET /api/events": ({ request }) => hub.response(request),
        "GET /api/ledger.csv": async () => csvFile("ledger.csv", ledgerRows(await server.ledger())),
      },
    });
    return made.self = new Dashboard(server, web, hub, options.sampleMs ?? 1_000);
  }

  /** The URL to open, with the token. */
  get url(): string {
    return this.#web.url;
  }

  /** The token. */
  get token(): string {
    return this.#web.token;
  }

  /**
   * Changes whenever a peer, its liveness or a search changes (the ledger
   * changes with its search).
   */
  #marketVersion(): string {
    const market = this.#server.market;
    let peers = 0, latest = 0;
    const offline: string[] = [];
    for (const peer of market.peers()) {
      peers++;
      latest = Math.max(latest, peer.registeredAt);
      if (market.isOffline(peer.name)) offline.push(peer.name);
    }
    const requests = market.requests();
    for (const request of requests) latest = Math.max(latest, request.updatedAt);
    return `${peers}/${requests.length}/${latest}/${offline.join(",")}`;
  }

  #sample(): void {
    const now = Date.now();
    const seconds = Math.max((now - this.#lastAt) / 1000, 0.001);
    const datagrams = this.#server.traffic.datagrams;
    const searches =
      this.#server.market.requests().filter((request) =>
        request.createdAt > this.#lastAt && request.createdAt <= now
      ).length;
    const sample: Sample = {
      t: now / 1000,
      datagrams: Math.round((datagrams - this.#lastDatagrams) / seconds),
      searches: Math.round(searches / seconds),
    };
    this.#lastAt = now;
    this.#lastDatagrams = datagrams;
    this.#samples.push(sample);
    if (this.#samples.length > SAMPLES_KEPT) this.#samples.shift();
    const version = this.#marketVersion();
    const changed = version !== this.#version;
    this.#version = version;
    const event: SampleEvent = { ...sample, changed };
    this.#hub.flash("sample", event);
  }

  /** What the dashboard shows. */
  async state(): Promise<DashboardState> {
    const server = this.#server;
    // What the market holds once every handled event is stored: the page
    // never shows a change its commit has not kept (it waits while the
    // store fails).
    await server.settled().catch(() => {});
    const now = Date.now();
    const market = server.market;
    const peers = [...market.peers()].map((peer): DashboardPeer => {
      const lastHeard = server.traffic.lastHeard(peer.source);
      return {
        name: peer.name,
        address: formatAddress(peer.source),
        announced: `${peer.ip} UDP ${peer.udpPort} TCP ${peer.tcpPort}`,
        kind: peer.extensions === undefined ? "classic" : "ours",
        authenticated: peer.auth !== undefined,
        extensions: peer.extensions ?? [],
        registeredAt: peer.registeredAt,
        lastHeard,
        // What the market itself goes by (--offline-after, unanswered messages).
        online: !market.isOffline(peer.name),
      };
    }).sort((a, b) => a.name < b.name ? -1 : 1);
    const requests = market.requests();
    const searches: Partial<Record<RequestState, number>> = {};
    const ended: Partial<Record<RequestState, number>> = {};
    for (const { state } of requests) {
      const counts = isOpen(state) ? searches : ended;
      counts[state] = (counts[state] ?? 0) + 1;
    }
    const open = requests.filter((request) => isOpen(request.state)).map((
      request,
    ): DashboardSearch => ({
      id: request.id,
      buyer: request.buyer,
      item: request.item,
      description: request.description,
      maxPrice: request.maxPrice,
      state: request.state,
      seller: request.seller,
      price: request.price,
      contacted: request.contacted,
      createdAt: request.createdAt,
      deadline: request.deadline,
    })).sort((a, b) => a.createdAt - b.createdAt);
    const ledger = (await server.ledger()).sort((a, b) => a.at - b.at);
    const address = server.address;
    return {
      server: formatAddress(address),
      now,
      counts: {
        peers: peers.length,
        online: peers.filter((peer) => peer.online).length,
        searches,
        ended,
        open: open.length,
        datagrams: server.traffic.datagrams,
      },
      peers,
      open,
      ledger,
      totals: totals(ledger),
      samples: this.#samples,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#timer);
    await this.#web[Symbol.asyncDispose]();
  }
}

/** The ledger as CSV rows, header first; cards stay masked as stored. */
export function ledgerRows(entries: readonly LedgerEntry[]): unknown[][] {
  return [
    [
      "time",
      "tx",
      "item",
      "price",
      "fee",
      "seller_credit",
      "buyer",
      "seller",
      "buyer_card",
      "outcome",
      "reason",
    ],
    ...[...entries].sort((a, b) => a.at - b.at).map((entry) => [
      new Date(entry.at).toISOString(),
      entry.tx,
      entry.item,
      entry.price.toFixed(2),
      entry.fee.toFixed(2),
      entry.sellerCredit.toFixed(2),
      entry.buyer,
      entry.seller,
      entry.buyerCard ?? "",
      entry.outcome,
      entry.reason ?? "",
    ]),
  ];
}
